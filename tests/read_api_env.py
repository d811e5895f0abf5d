"""A running read API for integration and browser tests: its own and the four domain databases (migrated), the
topics it uses under a unique prefix, and uvicorn serving `create_app` (full lifespan) on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import uvicorn

from csms.kafka import apply_topics
from csms.settings import KafkaSettings
from processors.authorization.bootstrap import MIGRATIONS as AUTH_MIGRATIONS
from processors.billing.bootstrap import MIGRATIONS as BILLING_MIGRATIONS
from processors.monitoring.bootstrap import MIGRATIONS as MONITORING_MIGRATIONS
from processors.runtime.migrate import upgrade
from processors.stations.bootstrap import MIGRATIONS as STATIONS_MIGRATIONS
from read_api import ApiSettings, create_app
from read_api.deps import ApiState
from schemas import load_topics
from tests import infra
from tests.integration.domain_support import Feed

ADMIN, PASSWORD = "admin", "admin-password-for-tests"
TOPICS = ["ocpp.commands", "ocpp.command-outcomes", "commands.outcomes", "stations.commands", "auth.commands",
          "billing.commands", "monitoring.commands", "stations.events", "billing.sessions", "monitoring.alerts",
          "stations.registry", "ocpp.messages", "ocpp.connections", "runtime.dead-letters",
          "auth.tokens", "auth.events", "auth.authorizations", "auth.token-sessions"]
MIGRATIONS = {"stations": STATIONS_MIGRATIONS, "drivers": AUTH_MIGRATIONS, "billing": BILLING_MIGRATIONS,
              "monitoring": MONITORING_MIGRATIONS}


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Any:  # the test process keeps its own signal handlers
        yield


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ApiEnv:
    settings: ApiSettings
    base_url: str
    urls: dict[str, str]
    state: ApiState

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30)

    async def login(self, username: str = ADMIN, password: str = PASSWORD) -> str:
        async with self.client() as c:
            r = await c.post("/api/v1/auth/token", data={"username": username, "password": password})
        r.raise_for_status()
        return str(r.json()["access_token"])

    def feed(self) -> Feed:
        return Feed(self.settings.kafka)

    async def sql(self, domain: str, statement: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.urls[domain])
        try:
            return list(await conn.fetch(statement, *args))
        finally:
            await conn.close()


async def _create_databases(real: infra.Infra, names: list[str]) -> None:
    admin = await asyncpg.connect(real.database_url("postgres"))
    try:
        for name in names:
            await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()


async def _drop_databases(real: infra.Infra, names: list[str]) -> None:
    admin = await asyncpg.connect(real.database_url("postgres"))
    try:
        for name in names:
            await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def prepared(real: infra.Infra, port: int = 0,
                   **overrides: Any) -> AsyncIterator[tuple[ApiSettings, dict[str, str]]]:
    """Migrated domain databases, an empty API database and the topics, under unique names; dropped after."""
    stem = infra.unique("api_")
    names = {d: f"{stem}_{d}" for d in ("api", *MIGRATIONS)}
    await _create_databases(real, list(names.values()))
    urls = {d: real.database_url(n) for d, n in names.items()}
    kafka = KafkaSettings(bootstrap=real.bootstrap, topic_prefix=f"{stem}.")
    try:
        for domain, migrations in MIGRATIONS.items():  # one at a time: alembic's context is process-global
            await asyncio.to_thread(upgrade, urls[domain], migrations)
        await apply_topics(kafka, load_topics().with_prefix(kafka.topic_prefix), only=TOPICS, max_partitions=2)
        settings = ApiSettings(
            database_url=urls["api"], stations_database_url=urls["stations"], drivers_database_url=urls["drivers"],
            billing_database_url=urls["billing"], monitoring_database_url=urls["monitoring"], kafka=kafka,
            admin_username=ADMIN, admin_password=PASSWORD, jwt_secret=uuid.uuid4().hex * 2,
            http_port=port or free_port(), pool_size=4, **overrides)
        yield settings, urls
    finally:
        await _drop_databases(real, list(names.values()))


@contextlib.asynccontextmanager
async def running_api(real: infra.Infra, **overrides: Any) -> AsyncIterator[ApiEnv]:
    """Everything the read API needs, then the API itself (in-process uvicorn), for the body of the `async with`."""
    async with prepared(real, **overrides) as (settings, urls):
        ready: asyncio.Future[ApiState] = asyncio.get_running_loop().create_future()
        app = create_app(settings, on_ready=ready.set_result)
        server = _Server(uvicorn.Config(app, host="127.0.0.1", port=settings.http_port, log_config=None,
                                        lifespan="on"))
        task = asyncio.create_task(server.serve())
        try:
            state = await asyncio.wait_for(ready, 60)
            for _ in range(500):  # uvicorn sets `started` once its socket listens
                if server.started:
                    break
                await asyncio.sleep(0.02)
            yield ApiEnv(settings, f"http://127.0.0.1:{settings.http_port}", urls, state)
        finally:
            server.should_exit = True
            await task


def now() -> datetime:
    return datetime.now(UTC)

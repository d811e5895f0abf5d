"""What routes depend on: the app's state (built by the lifespan) and read connections to each domain's store."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

import asyncpg
import sqlalchemy as sa
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from processors.runtime.migrate import async_url
from read_api.errors import Unavailable
from read_api.settings import DOMAIN_DATABASES, ApiSettings
from schemas import AvroCodec, TopicCatalog

if TYPE_CHECKING:
    from read_api.commands import CommandBus
    from read_api.live import LiveHub
    from read_api.users import Users
    from read_api.webhooks import WebhookDispatcher


class Databases:
    """One async engine per domain database (read through that domain's queries module) and the API's own.

    Domain reads run in autocommit on sessions that are read-only by default (`default_transaction_read_only`):
    a read is one or a few statements under READ COMMITTED, so a transaction would only add a BEGIN and a
    ROLLBACK round trip per request, and PostgreSQL itself refuses any write. Instead of `pool_pre_ping` (three
    round trips per checkout with asyncpg: BEGIN, `;`, ROLLBACK) a checkout drops a connection the driver already
    knows is closed (e.g. after a database restart)."""

    def __init__(self, settings: ApiSettings) -> None:
        self.api = create_async_engine(async_url(settings.database_url), pool_size=settings.pool_size,
                                       max_overflow=4, pool_pre_ping=True)
        self.domains: dict[str, AsyncEngine] = {
            name: _read_engine(settings.domain_url(name), settings.pool_size) for name in DOMAIN_DATABASES}
        self._settings = settings
        self._drivers: dict[str, asyncpg.Pool] = {}
        self._opening = asyncio.Lock()

    @asynccontextmanager
    async def read(self, domain: str) -> AsyncIterator[AsyncConnection]:
        """A connection to `domain`'s store for reads (autocommit, read-only sessions: the API never writes)."""
        try:
            conn = await self.domains[domain].connect()
        except (OSError, sa.exc.DBAPIError) as exc:
            raise Unavailable(f"the {domain} store is not reachable") from exc
        try:
            yield conn
        except (sa.exc.ProgrammingError, asyncpg.UndefinedTableError) as exc:
            if isinstance(exc, asyncpg.UndefinedTableError) or "does not exist" in str(exc.orig):
                raise Unavailable(f"the {domain} store is not migrated yet") from exc
            raise
        finally:
            await conn.close()

    @asynccontextmanager
    async def driver(self, domain: str) -> AsyncIterator[Any]:
        """A plain asyncpg connection to `domain`'s store, for the hottest reads (the station list): no SQLAlchemy
        pool, greenlet or connection wrapper in the path. Same session rules as `read` (autocommit, read-only), and
        nothing to reset on release: these sessions change no state, so the pool's reset round trip is skipped."""
        pool = self._drivers.get(domain) or await self._open_driver_pool(domain)
        try:
            conn = await pool.acquire()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise Unavailable(f"the {domain} store is not reachable") from exc
        try:
            yield conn
        except asyncpg.UndefinedTableError as exc:
            raise Unavailable(f"the {domain} store is not migrated yet") from exc
        finally:
            await pool.release(conn)

    async def _open_driver_pool(self, domain: str) -> asyncpg.Pool:
        """Created on first use (no connection at start, so the API starts while a store is down)."""
        async with self._opening:
            if domain not in self._drivers:
                self._drivers[domain] = await asyncpg.create_pool(
                    self._settings.domain_url(domain), min_size=0, max_size=self._settings.pool_size,
                    reset=_keep_session, server_settings={"default_transaction_read_only": "on",
                                                          "application_name": "csms-read-api"})
            return self._drivers[domain]

    async def dispose(self) -> None:
        for engine in (self.api, *self.domains.values()):
            await engine.dispose()
        for pool in self._drivers.values():
            await pool.close()


@dataclass
class ApiState:
    """Everything the routes use, built once by the lifespan (or by a test)."""

    settings: ApiSettings
    topics: TopicCatalog
    codec: AvroCodec
    db: Databases
    users: Users
    bus: CommandBus
    hub: LiveHub
    webhooks: WebhookDispatcher | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def _read_engine(url: str, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(
        async_url(url), pool_size=pool_size, max_overflow=0, isolation_level="AUTOCOMMIT",
        connect_args={"server_settings": {"default_transaction_read_only": "on"}})
    sa.event.listen(engine.sync_engine, "checkout", _drop_closed)
    return engine


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Pool release hook: nothing to reset on a read-only autocommit session (asyncpg still rolls back an open
    transaction first, and a closed connection is replaced at the next acquire)."""


def _drop_closed(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Pool checkout hook: a connection whose socket the driver saw closed is replaced (the pool retries)."""
    driver = record.driver_connection
    if driver is None or driver.is_closed():
        raise sa.exc.DisconnectionError("the connection was closed")


def api_state(request: Request) -> ApiState:
    state: ApiState | None = getattr(request.app.state, "api", None)
    if state is None:
        raise Unavailable("the API is starting")
    return state


def queries_module(package: str) -> ModuleType:
    """A processor's read-only queries module, imported when first needed; 503 if that processor is not built."""
    try:
        return importlib.import_module(f"processors.{package}.queries")
    except ImportError as exc:
        raise Unavailable(f"the {package} query module is not available in this build") from exc


def query_function(package: str, name: str) -> Any:
    """A function of a processor's queries module (503 naming it when the module does not provide it)."""
    fn = getattr(queries_module(package), name, None)
    if fn is None:
        raise Unavailable(f"processors.{package}.queries has no {name}() yet")
    return fn

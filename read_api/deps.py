"""What routes depend on: the app's state (built by the lifespan) and read connections to each domain's store."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

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
    """One async engine per domain database (read through that domain's queries module) and the API's own."""

    def __init__(self, settings: ApiSettings) -> None:
        self.api = create_async_engine(async_url(settings.database_url), pool_size=settings.pool_size,
                                       max_overflow=4, pool_pre_ping=True)
        self.domains: dict[str, AsyncEngine] = {
            name: create_async_engine(async_url(settings.domain_url(name)), pool_size=settings.pool_size,
                                      max_overflow=4, pool_pre_ping=True)
            for name in DOMAIN_DATABASES}

    @asynccontextmanager
    async def read(self, domain: str) -> AsyncIterator[AsyncConnection]:
        """A connection to `domain`'s store for reads; its transaction is rolled back (the API never writes)."""
        try:
            conn = await self.domains[domain].connect()
        except (OSError, sa.exc.DBAPIError) as exc:
            raise Unavailable(f"the {domain} store is not reachable") from exc
        try:
            yield conn
        except sa.exc.ProgrammingError as exc:
            if "does not exist" in str(exc.orig):
                raise Unavailable(f"the {domain} store is not migrated yet") from exc
            raise
        finally:
            await conn.rollback()
            await conn.close()

    async def dispose(self) -> None:
        for engine in (self.api, *self.domains.values()):
            await engine.dispose()


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

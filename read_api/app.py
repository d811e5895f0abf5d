"""The read API's composition root: `create_app(settings)` and its lifespan (nothing is built at import time)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from processors.runtime import migrate
from read_api import errors
from read_api.auth import AccessTokens
from read_api.commands import CommandBus
from read_api.deps import ApiState, Databases
from read_api.live import LiveHub
from read_api.responses import JsonResponse
from read_api.routes import (
    alerts,
    auth,
    dashboard,
    docs,
    drivers,
    health,
    invoices,
    locations,
    misc,
    payments,
    reports,
    sessions,
    stations,
    tariffs,
    tokens,
    wallets,
    webhooks,
)
from read_api.settings import ApiSettings
from read_api.users import Users
from read_api.webhooks import WebhookDispatcher
from schemas import AvroCodec, TopicCatalog, load_topics

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# stations first: a request is matched against the routes in this order, and the station list is the hottest read
ROUTERS = (stations, health, auth, locations, drivers, tokens, tariffs, sessions, invoices, payments, wallets,
           alerts, reports, misc, webhooks, dashboard, docs)


async def start_state(settings: ApiSettings, topics: TopicCatalog | None = None,
                      codec: AvroCodec | None = None) -> ApiState:
    """Migrate the API's store, seed the first admin, start the command bus, the live hub and the webhooks."""
    if settings.migrate_on_start:
        await asyncio.to_thread(migrate.upgrade, settings.database_url, MIGRATIONS)
    catalog = (topics or load_topics()).with_prefix(settings.kafka.topic_prefix)
    codec = codec or AvroCodec()
    db = Databases(settings)
    users = Users(db.api, settings.refresh_token_ttl_s)
    await users.ensure_admin(settings.admin_username, settings.admin_password.get_secret_value())
    bus = CommandBus(settings, catalog, codec, db.api)
    hub = LiveHub(settings.kafka, catalog, codec, settings.live_queue_size)
    state = ApiState(settings, catalog, codec, db, users, bus, hub)
    try:
        await bus.start()
        await hub.start()
        state.webhooks = WebhookDispatcher(settings, db.api, hub)
        await state.webhooks.start()
    except BaseException:
        await stop_state(state)
        raise
    return state


async def stop_state(state: ApiState) -> None:
    if state.webhooks is not None:
        await state.webhooks.stop()
    await state.hub.stop()
    await state.bus.stop()
    await state.db.dispose()


def create_app(settings: ApiSettings, *, topics: TopicCatalog | None = None, codec: AvroCodec | None = None,
               start: bool = True, on_ready: Callable[[ApiState], Any] | None = None) -> FastAPI:
    """The FastAPI app. `start=False` builds it without a lifespan (tests of routing and authorization)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await start_state(settings, topics, codec)
        app.state.api = state
        if on_ready is not None:
            on_ready(state)
        try:
            yield
        finally:
            app.state.api = None
            await stop_state(state)

    app = FastAPI(title="CSMS read API", version="1.0.0", lifespan=lifespan if start else None,
                  default_response_class=JsonResponse, openapi_url=None, docs_url=None, redoc_url=None,
                  # /openapi.json and /docs are routes of read_api.routes.docs: authenticated like every other
                  description="Stations, drivers, tokens, tariffs, sessions, invoices, alerts and reports of the "
                              "CSMS. Writes are commands (202 + command id when slow). Errors: "
                              '`{"error": {"code", "message", "details"}}`.')
    app.state.access_tokens = AccessTokens(settings.jwt_secret.get_secret_value())
    errors.install(app)
    for module in ROUTERS:
        app.include_router(module.router)
    app.openapi = lambda: docs.openapi_document(app)  # type: ignore[method-assign]
    return app

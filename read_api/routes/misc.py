"""Command status, the Avro schema catalogue, and the live feed (Server-Sent Events)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from read_api.auth import Anyone, Reader
from read_api.deps import api_state
from read_api.errors import NotFound
from read_api.live import KINDS, stream
from read_api.models import ERRORS
from read_api.pagination import offset_page, page
from read_api.responses import etagged
from read_api.routes._common import Cursor, Limit
from schemas import AvroSchema, SchemaError

router = APIRouter(prefix="/api/v1", responses=ERRORS)


@router.get("/commands/{command_id}", tags=["commands"], summary="A command's status and outcome")
async def command_status(request: Request, command_id: str, principal: Anyone) -> Response:
    found = await api_state(request).bus.status(command_id)
    if found is None or (principal.is_driver and found["requested_by"] != principal.subject):
        raise NotFound(f"command {command_id}")
    return etagged(request, found)


def _schema(schema: AvroSchema) -> dict[str, Any]:
    return {"name": schema.name, "fingerprint": schema.fingerprint_hex, "schema": orjson.loads(schema.canonical)}


@router.get("/schemas", tags=["schemas"], summary="The Avro catalogue (current schemas)")
async def list_schemas(request: Request, _: Reader, cursor: Cursor = None, limit: Limit = 100) -> Response:
    catalog = api_state(request).codec.catalog
    items = [_schema(catalog.get(name)) for name in catalog.names()]
    chunk, next_cursor = offset_page(items, cursor, limit)
    return page(chunk, next_cursor)


@router.get("/schemas/{name}", tags=["schemas"], summary="One Avro schema by full name (ETag)")
async def get_schema(request: Request, name: str, _: Reader) -> Response:
    catalog = api_state(request).codec.catalog
    try:
        schema = catalog.get(name)
    except SchemaError:
        raise NotFound(f"schema {name}") from None
    return etagged(request, _schema(schema))


@router.get("/live", tags=["live"], summary="Server-Sent Events: connector status, sessions, alerts",
            response_class=StreamingResponse)
async def live(request: Request, principal: Anyone,
               kinds: Annotated[str | None, Query(description=f"comma-separated: {sorted(set(KINDS.values()))}")]
               = None, station_id: str | None = None) -> StreamingResponse:
    wanted = {k.strip() for k in kinds.split(",") if k.strip()} if kinds else None
    events = stream(api_state(request).hub, principal, wanted, station_id, request.is_disconnected)
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

"""Locations (sites) of the stations domain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from processors.stations import queries as sq
from read_api.auth import Anyone, Staff
from read_api.deps import api_state
from read_api.errors import ApiError
from read_api.models import ERRORS
from read_api.pagination import decode_cursor, encode_cursor, page
from read_api.routes._common import Cursor, Limit, Payload, Sort, command, merged

router = APIRouter(prefix="/api/v1/locations", tags=["locations"], responses=ERRORS)
LocationId = Annotated[str, Path(min_length=1, max_length=100)]


@router.get("", summary="Locations with their number of stations")
async def list_locations(request: Request, _: Anyone, operator: str | None = None, sort: Sort = None,
                         cursor: Cursor = None, limit: Limit = 50) -> Response:
    if sort not in (None, "id"):
        raise ApiError(422, "locations sort by id only (keyset pagination)", details={"sortable": ["id"]})
    async with api_state(request).db.read("stations") as conn:
        result = await sq.list_locations(conn, operator_id=operator, after=decode_cursor(cursor).get("after"),
                                         limit=limit)
    return page(result.items, encode_cursor({"after": result.next_cursor}) if result.next_cursor else None)


@router.post("", summary="Define a location (DefineLocation)")
async def define(request: Request, body: Payload, principal: Staff) -> Response:
    location_id = body.get("location_id")
    if not isinstance(location_id, str) or not location_id:
        raise ApiError(422, "location_id is required")
    return await command(request, principal, "stations", "DefineLocation", location_id, body)


@router.put("/{location_id}", summary="Replace a location's data (DefineLocation)")
async def replace(request: Request, location_id: LocationId, body: Payload, principal: Staff) -> Response:
    return await command(request, principal, "stations", "DefineLocation", location_id,
                         merged(body, location_id=location_id))

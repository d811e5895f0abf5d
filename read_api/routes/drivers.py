"""Drivers (authorization domain): reads from its queries module, writes as commands on `auth.commands`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from processors.authorization import queries as aq
from read_api.auth import Admin, Anyone, Reader, Staff, own_driver
from read_api.deps import api_state
from read_api.errors import ApiError, NotFound
from read_api.models import ERRORS
from read_api.pagination import decode_cursor, encode_cursor, page
from read_api.responses import etagged
from read_api.routes._common import Cursor, Limit, OptionalPayload, Payload, Sort, command, merged

router = APIRouter(prefix="/api/v1/drivers", tags=["drivers"], responses=ERRORS)
DriverId = Annotated[str, Path(min_length=1, max_length=100)]


@router.get("", summary="Drivers (filter by status, membership level, text in name or email)")
async def list_drivers(request: Request, _: Reader, status: str | None = None, membership_level: str | None = None,
                       q: str | None = None, include_deleted: bool = False, sort: Sort = None,
                       cursor: Cursor = None, limit: Limit = 50) -> Response:
    if sort not in (None, "id"):
        raise ApiError(422, "drivers sort by id only (keyset pagination)", details={"sortable": ["id"]})
    async with api_state(request).db.read("drivers") as conn:
        result = await aq.list_drivers(conn, status=status, membership_level=membership_level, search=q,
                                       include_deleted=include_deleted, after=decode_cursor(cursor).get("after"),
                                       limit=limit)
    return page(result.items, encode_cursor({"after": result.next_cursor}) if result.next_cursor else None)


@router.get("/{driver_id}", summary="One driver (a driver sees only themselves; ETag)")
async def get_driver(request: Request, driver_id: DriverId, principal: Anyone) -> Response:
    own_driver(principal, driver_id)
    async with api_state(request).db.read("drivers") as conn:
        driver = await aq.get_driver(conn, driver_id)
    if driver is None:
        raise NotFound(f"driver {driver_id}")
    return etagged(request, driver)


@router.post("", summary="Create a driver (CreateDriver; 409 on a duplicate email)")
async def create_driver(request: Request, body: Payload, principal: Staff) -> Response:
    driver_id = body.get("driver_id") or str(uuid.uuid4())
    return await command(request, principal, "authorization", "CreateDriver", str(driver_id),
                         merged(body, driver_id=driver_id))


@router.patch("/{driver_id}", summary="Change a driver (UpdateDriver)")
async def update_driver(request: Request, driver_id: DriverId, body: Payload, principal: Staff) -> Response:
    return await command(request, principal, "authorization", "UpdateDriver", driver_id,
                         merged(body, driver_id=driver_id))


@router.put("/{driver_id}/membership", summary="Set a driver's membership level (SetMembershipLevel)")
async def set_level(request: Request, driver_id: DriverId, body: Payload, principal: Staff) -> Response:
    return await command(request, principal, "authorization", "SetMembershipLevel", driver_id,
                         merged(body, driver_id=driver_id))


@router.delete("/{driver_id}", summary="Delete a driver (DeleteDriver)")
async def delete_driver(request: Request, driver_id: DriverId, principal: Admin,
                        body: OptionalPayload = None) -> Response:
    return await command(request, principal, "authorization", "DeleteDriver", driver_id,
                         merged(body, driver_id=driver_id))

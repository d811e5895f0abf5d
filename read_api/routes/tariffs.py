"""Tariffs (billing domain): reads from billing's queries, writes as commands on `billing.commands`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from processors.billing import queries as bq
from read_api.auth import Anyone, Staff
from read_api.deps import api_state
from read_api.errors import ApiError, NotFound
from read_api.models import ERRORS
from read_api.pagination import windowed
from read_api.responses import etagged
from read_api.routes._common import Cursor, Limit, OptionalPayload, Payload, Sort, command, merged

router = APIRouter(prefix="/api/v1/tariffs", tags=["tariffs"], responses=ERRORS)
TariffId = Annotated[str, Path(min_length=1, max_length=100)]


@router.get("", summary="Tariffs with their latest version")
async def list_tariffs(request: Request, _: Anyone, sort: Sort = None, cursor: Cursor = None,
                       limit: Limit = 50) -> Response:
    async def fetch(n: int) -> list[dict[str, object]]:
        async with api_state(request).db.read("billing") as conn:
            return (await bq.list_tariffs(conn))[:n]

    return await windowed(fetch, cursor, limit, sort=sort, sortable=("tariff_id", "created_at", "version"))


@router.get("/{tariff_id}", summary="A tariff with all versions and assignments (ETag)")
async def get_tariff(request: Request, tariff_id: TariffId, _: Anyone) -> Response:
    async with api_state(request).db.read("billing") as conn:
        tariff = await bq.get_tariff(conn, tariff_id)
    if tariff is None:
        raise NotFound(f"tariff {tariff_id}")
    return etagged(request, tariff)


@router.post("", summary="Create a tariff (CreateTariff)")
async def create_tariff(request: Request, body: Payload, principal: Staff) -> Response:
    tariff_id = body.get("id") or body.get("tariff_id")
    if not isinstance(tariff_id, str) or not tariff_id:
        raise ApiError(422, "id is required")
    return await command(request, principal, "billing", "CreateTariff", tariff_id, merged(body, id=tariff_id))


@router.put("/{tariff_id}", summary="A new version of a tariff (UpdateTariff)")
async def update_tariff(request: Request, tariff_id: TariffId, body: Payload, principal: Staff) -> Response:
    return await command(request, principal, "billing", "UpdateTariff", tariff_id, merged(body, id=tariff_id))


@router.delete("/{tariff_id}", summary="Delete a tariff (DeleteTariff)")
async def delete_tariff(request: Request, tariff_id: TariffId, principal: Staff,
                        body: OptionalPayload = None) -> Response:
    return await command(request, principal, "billing", "DeleteTariff", tariff_id, merged(body, id=tariff_id))


@router.post("/{tariff_id}/assignments", summary="Assign a tariff to a scope (AssignTariff)")
async def assign(request: Request, tariff_id: TariffId, body: Payload, principal: Staff) -> Response:
    return await command(request, principal, "billing", "AssignTariff", tariff_id, merged(body, tariff_id=tariff_id))


@router.post("/{tariff_id}/unassignments", summary="Remove a tariff assignment (UnassignTariff)")
async def unassign(request: Request, tariff_id: TariffId, body: Payload, principal: Staff) -> Response:
    return await command(request, principal, "billing", "UnassignTariff", tariff_id,
                         merged(body, tariff_id=tariff_id))

"""Stations: list (filters, keyset cursor), detail with connectors and live status, history, configuration;
writes as commands on `stations.commands`; charger commands on `ocpp.commands`, validated before publishing."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import orjson
from argon2 import PasswordHasher
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from ocpp_edge.protocol import CSMS_INITIATED, ProtocolViolation, validate_call
from processors.stations import queries as sq
from read_api.auth import EVERYONE, Admin, Anyone, Principal, Reader, Staff
from read_api.commands import respond
from read_api.deps import api_state
from read_api.errors import ApiError, NotFound
from read_api.lean import lean_get
from read_api.models import ERRORS
from read_api.pagination import decode_cursor, encode_cursor, page
from read_api.responses import etagged
from read_api.routes._common import Cursor, Limit, OptionalPayload, Payload, command, merged

router = APIRouter(prefix="/api/v1/stations", tags=["stations"], responses=ERRORS)
StationId = Annotated[str, Path(min_length=1, max_length=64)]
VERSIONS = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")


def _floats(raw: str | None, n: int, name: str) -> tuple[float, ...] | None:
    if raw is None:
        return None
    try:
        values = tuple(float(v) for v in raw.split(","))
    except ValueError:
        values = ()
    if len(values) != n:
        raise ApiError(422, f"{name} needs {n} comma-separated numbers")
    return values


class StationQuery(BaseModel):
    """The station list's query parameters (documented in OpenAPI as separate parameters)."""

    status: str | None = Field(None, description="registration status, e.g. ACCEPTED, PENDING")
    operator: str | None = Field(None, description="operator id")
    location: str | None = Field(None, description="location id")
    connector_type: str | None = Field(None, description="stations with at least one connector of this type")
    online: bool | None = Field(None, description="connected to an edge now")
    bbox: str | None = Field(None, description="min_lat,min_lon,max_lat,max_lon")
    near: str | None = Field(None, description="lat,lon,radius_m (adds `distance_m` to each item)")
    q: str | None = Field(None, max_length=100, description="text in id, name or address")
    sort: str | None = Field(None, description="`id` only (keyset pagination)")
    cursor: str | None = Field(None, description="`next_cursor` of the previous page")
    limit: int = Field(50, ge=1, le=500, description="page size")


@lean_get(router, "", roles=EVERYONE, query=StationQuery, summary="Stations with live connector status")
async def list_stations(request: Request, _: Principal, query: StationQuery) -> Response:
    """Keyset-paginated by id; connector types and the number of available connectors per station."""
    if query.sort not in (None, "id"):
        raise ApiError(422, "stations sort by id only (keyset pagination)", details={"sortable": ["id"]})
    after = decode_cursor(query.cursor).get("after")
    bbox, near = _floats(query.bbox, 4, "bbox"), _floats(query.near, 3, "near")
    async with api_state(request).db.driver("stations") as conn:
        result = await sq.station_page(
            conn, status=query.status, operator_id=query.operator, location_id=query.location,
            connector_type=query.connector_type, online=query.online, bbox=bbox, near=near,  # type: ignore[arg-type]
            search=query.q, after=after, limit=query.limit)
    next_cursor = encode_cursor({"after": result.next_cursor}) if result.next_cursor else None
    return Response(orjson.dumps({"items": result.items, "next_cursor": next_cursor}), media_type="application/json")


@router.get("/{station_id}", summary="One station with its EVSEs and connectors (ETag)")
async def get_station(request: Request, station_id: StationId, _: Anyone) -> Response:
    async with api_state(request).db.read("stations") as conn:
        station = await sq.get_station(conn, station_id)
    if station is None:
        raise NotFound(f"station {station_id}")
    return etagged(request, station)


@router.get("/{station_id}/status-history", summary="Registration and connectivity changes, newest first")
async def status_history(request: Request, station_id: StationId, _: Reader, kind: str | None = None,
                         cursor: Cursor = None, limit: Limit = 100) -> Response:
    async with api_state(request).db.read("stations") as conn:
        result = await sq.station_history(conn, station_id, kind=kind, before=decode_cursor(cursor).get("before"),
                                          limit=limit)
    return page(result.items, encode_cursor({"before": result.next_cursor}) if result.next_cursor else None)


@router.get("/{station_id}/connector-history", summary="Connector status reports, newest first")
async def connector_history(request: Request, station_id: StationId, _: Reader, evse_id: int | None = None,
                            connector_id: int | None = None, cursor: Cursor = None, limit: Limit = 100) -> Response:
    async with api_state(request).db.read("stations") as conn:
        result = await sq.connector_history(conn, station_id, evse_id=evse_id, connector_id=connector_id,
                                            before=decode_cursor(cursor).get("before"), limit=limit)
    return page(result.items, encode_cursor({"before": result.next_cursor}) if result.next_cursor else None)


@router.get("/{station_id}/configuration", summary="Configuration keys / device-model variables last reported")
async def configuration(request: Request, station_id: StationId, _: Reader) -> Response:
    async with api_state(request).db.read("stations") as conn:
        entries = await sq.station_configuration_of(conn, station_id)
    return page(entries, None)


async def _hash_password(body: dict[str, Any]) -> dict[str, Any]:
    """Replace a Basic-auth password by its argon2id hash: no password is ever published on stations.commands
    (events carry no secrets). Hashing is slow by design, so it runs off the event loop."""
    password = body.get("password")
    if password is None:
        return body
    if not isinstance(password, str) or not 16 <= len(password) <= 40:
        raise ApiError(422, "password must be a string of 16 to 40 characters")
    digest = await asyncio.to_thread(PasswordHasher().hash, password)
    return {**{k: v for k, v in body.items() if k != "password"}, "password_hash": digest}


@router.post("", summary="Register a station (RegisterStation)")
async def register(request: Request, body: Payload, principal: Staff) -> Response:
    station_id = body.get("station_id")
    if not isinstance(station_id, str) or not station_id:
        raise ApiError(422, "station_id is required")
    return await command(request, principal, "stations", "RegisterStation", station_id,
                         await _hash_password(body))


@router.patch("/{station_id}", summary="Change a station (UpdateStation)")
async def update(request: Request, station_id: StationId, body: Payload, principal: Staff) -> Response:
    return await command(request, principal, "stations", "UpdateStation", station_id,
                         await _hash_password(merged(body, station_id=station_id)))


@router.delete("/{station_id}", summary="Decommission a station (DecommissionStation)")
async def decommission(request: Request, station_id: StationId, principal: Admin,
                       body: OptionalPayload = None) -> Response:
    return await command(request, principal, "stations", "DecommissionStation", station_id,
                         merged(body, station_id=station_id))


@router.post("/{station_id}/approve", summary="Approve a pending station (ApproveStation)")
async def approve(request: Request, station_id: StationId, principal: Staff, body: OptionalPayload = None) -> Response:
    return await command(request, principal, "stations", "ApproveStation", station_id,
                         merged(body, station_id=station_id))


@router.post("/{station_id}/reject", summary="Reject a pending station (RejectStation)")
async def reject(request: Request, station_id: StationId, principal: Staff, body: OptionalPayload = None) -> Response:
    return await command(request, principal, "stations", "RejectStation", station_id,
                         merged(body, station_id=station_id))


async def _version(request: Request, station_id: str, requested: str | None) -> str:
    async with api_state(request).db.read("stations") as conn:
        station = await sq.get_station(conn, station_id)
    if station is None:
        raise NotFound(f"station {station_id}")
    if requested:
        return requested
    if station.ocpp_version:
        return station.ocpp_version
    if len(station.allowed_ocpp_versions) == 1:
        return station.allowed_ocpp_versions[0]
    raise ApiError(422, "the station's OCPP version is not known yet: pass ?version=")


@router.post("/{station_id}/commands/{action}", summary="Send an OCPP call to the charger (validated first)")
async def charger_command(
    request: Request, station_id: StationId, action: Annotated[str, Path(pattern=r"^[A-Za-z0-9]{1,64}$")],
    principal: Staff, body: OptionalPayload = None,
    version: Annotated[str | None, Query(pattern=r"^ocpp(1\.6|2\.0\.1|2\.1)$")] = None,
) -> Response:
    ocpp_version = await _version(request, station_id, version)
    if action not in CSMS_INITIATED.get(ocpp_version, frozenset()):
        raise ApiError(422, f"{action} is not a call the CSMS sends in {ocpp_version}",
                       details={"version": ocpp_version, "actions": sorted(CSMS_INITIATED.get(ocpp_version, ()))})
    payload: dict[str, Any] = body or {}
    try:
        validate_call(ocpp_version, action, payload)
    except ProtocolViolation as exc:
        raise ApiError(422, f"invalid {action} payload for {ocpp_version}: {exc.description}",
                       details={"version": ocpp_version, "ocpp_error": exc.code}) from None
    command_id, outcome = await api_state(request).bus.send_ocpp(station_id, action, payload, principal)
    return respond(command_id, outcome)

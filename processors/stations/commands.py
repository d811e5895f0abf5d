"""The stations commands (topic `stations.commands`): register, update, approve, reject, decommission, locations.

Each function returns `(status, result)` or raises `CommandRejected`; the runtime answers on commands.outcomes.
Times written to the store are the command's `requested_at`, so replaying the command log rebuilds the same store.
"""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from processors.runtime import Command, CommandRejected, UnitOfWork
from processors.stations import payloads as p
from processors.stations.connectivity import start_connectivity
from processors.stations.domain import Registration, StationError, transition
from processors.stations.passwords import hash_password
from processors.stations.registry import REGISTRY_COLUMNS, emit_event, publish_registry
from processors.stations.store import connectors, evses, locations, station_status_history, stations

P = TypeVar("P", bound=pydantic.BaseModel)
_FIELDS = ("name", "operator_id", "location_id", "latitude", "longitude", "address", "security_profile",
           "heartbeat_interval_s", "allowed_ocpp_versions")


def _parse(model: type[P], command: Command) -> P:
    try:
        return model.model_validate(command.payload)
    except StationError as exc:
        raise CommandRejected(exc.status, str(exc)) from None
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise CommandRejected("INVALID", problems) from None


def _station_id(command: Command, in_payload: str | None) -> str:
    if command.aggregate_id and in_payload and command.aggregate_id != in_payload:
        raise CommandRejected("INVALID", "aggregate_id and payload station_id differ")
    station_id = in_payload or command.aggregate_id
    if not station_id:
        raise CommandRejected("INVALID", "station_id is required")
    return station_id


async def _load(uow: UnitOfWork, station_id: str) -> Any:
    result = await uow.conn.execute(sa.select(stations).where(stations.c.id == station_id).with_for_update())
    return result.one_or_none()


async def _require_location(uow: UnitOfWork, location_id: str | None) -> None:
    if location_id is None:
        return
    found = await uow.conn.execute(sa.select(locations.c.id).where(locations.c.id == location_id))
    if found.one_or_none() is None:
        raise CommandRejected("NOT_FOUND", f"location {location_id!r} does not exist")


def _password_hash(payload: Any, command_id: str, station_id: str) -> str | None:
    """The stored hash: sent as such (read_api hashes before publishing) or computed from a sent password."""
    if payload.password_hash is not None:
        return str(payload.password_hash)
    if payload.password is not None:
        return hash_password(payload.password.get_secret_value(), f"{command_id}:{station_id}")
    return None


def _check_security(profile: int, has_password: bool) -> None:
    if profile in (1, 2) and not has_password:
        raise CommandRejected("INVALID", f"security profile {profile} uses Basic auth: set a password")


async def _set_evses(uow: UnitOfWork, station_id: str, specs: list[p.EvseSpec]) -> None:
    for evse in specs:
        stmt = insert(evses).values(station_id=station_id, evse_id=evse.evse_id, max_power_w=evse.max_power_w)
        await uow.conn.execute(stmt.on_conflict_do_update(index_elements=["station_id", "evse_id"],
                                                          set_={"max_power_w": stmt.excluded.max_power_w}))
        for c in evse.connectors:
            cstmt = insert(connectors).values(station_id=station_id, evse_id=evse.evse_id,
                                              connector_id=c.connector_id, connector_type=c.connector_type.value,
                                              max_power_w=c.max_power_w)
            await uow.conn.execute(cstmt.on_conflict_do_update(
                index_elements=["station_id", "evse_id", "connector_id"],
                set_={"connector_type": cstmt.excluded.connector_type, "max_power_w": cstmt.excluded.max_power_w}))


async def _history(uow: UnitOfWork, command: Command, station_id: str, previous: str | None, status: str,
                   reason: str | None) -> None:
    await uow.conn.execute(insert(station_status_history).values(
        source_id=command.command_id, station_id=station_id, kind="REGISTRATION", previous_status=previous,
        status=status, reason=reason, at=command.requested_at).on_conflict_do_nothing())


async def register_station(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """RegisterStation: a new station, ACCEPTED (default) or PENDING, optionally with a Basic-auth password."""
    payload = _parse(p.RegisterStation, command)
    station_id = _station_id(command, payload.station_id)
    existing = await _load(uow, station_id)
    if existing is not None:
        raise CommandRejected("CONFLICT", f"station {station_id!r} is already registered ({existing.status})")
    await _require_location(uow, payload.location_id)
    _check_security(payload.security_profile, payload.password is not None or payload.password_hash is not None)
    password_hash = _password_hash(payload, command.command_id, station_id)
    at = command.requested_at
    await uow.conn.execute(sa.insert(stations).values(
        id=station_id, status=payload.status, registered_via="COMMAND", password_hash=password_hash,
        created_at=at, updated_at=at, **{f: getattr(payload, f) for f in _FIELDS}))
    await _set_evses(uow, station_id, payload.evses)
    await _history(uow, command, station_id, None, payload.status, "registered")
    version = await publish_registry(uow, station_id, at)
    emit_event(uow, "StationRegistered", station_id, {
        "status": payload.status, "source": "COMMAND", "name": payload.name, "operator_id": payload.operator_id,
        "location_id": payload.location_id, "command_id": command.command_id, "registered_at": at})
    await start_connectivity(uow, station_id)
    return "CREATED", {"station_id": station_id, "status": payload.status, "registry_version": version}


async def update_station(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """UpdateStation: change the fields sent (password rotates the hash; `"password": null` clears it)."""
    payload = _parse(p.UpdateStation, command)
    station_id = _station_id(command, payload.station_id)
    row = await _load(uow, station_id)
    if row is None:
        raise CommandRejected("NOT_FOUND", f"station {station_id!r} is not registered")
    if row.status == Registration.DECOMMISSIONED:
        raise CommandRejected("CONFLICT", f"station {station_id!r} is decommissioned")
    sent = payload.model_fields_set
    values: dict[str, Any] = {f: getattr(payload, f) for f in _FIELDS if f in sent}
    if "password" in sent or "password_hash" in sent:
        values["password_hash"] = _password_hash(payload, command.command_id, station_id)
    if "location_id" in values:
        await _require_location(uow, values["location_id"])
    _check_security(values.get("security_profile", row.security_profile),
                    values.get("password_hash", row.password_hash) is not None)
    changed = sorted(k for k, v in values.items() if getattr(row, k) != v)
    at = command.requested_at
    if changed:
        await uow.conn.execute(sa.update(stations).where(stations.c.id == station_id).values(
            updated_at=at, **{k: values[k] for k in changed}))
    if "evses" in sent:
        await _set_evses(uow, station_id, payload.evses)
        changed.append("evses")
    version = row.registry_version
    if any(k in REGISTRY_COLUMNS or k == "evses" for k in changed):  # the entry carries the connectors
        version = await publish_registry(uow, station_id, at)
    if changed:
        await _emit_updated(uow, command, station_id, changed)
    return "OK", {"station_id": station_id, "changed": [_public(k) for k in changed], "registry_version": version}


def _public(column: str) -> str:
    return "password" if column == "password_hash" else column


async def _emit_updated(uow: UnitOfWork, command: Command, station_id: str, changed: list[str]) -> None:
    row = (await uow.conn.execute(sa.select(stations).where(stations.c.id == station_id))).one()
    emit_event(uow, "StationUpdated", station_id, {
        "changed_fields": [_public(k) for k in changed], "name": row.name, "operator_id": row.operator_id,
        "location_id": row.location_id,
        "latitude": None if row.latitude is None else str(row.latitude),
        "longitude": None if row.longitude is None else str(row.longitude),
        "address": row.address, "security_profile": row.security_profile,
        "heartbeat_interval_s": row.heartbeat_interval_s, "command_id": command.command_id,
        "updated_at": command.requested_at})


def _status_command(action: str) -> Any:
    async def change_status(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
        payload = _parse(p.ChangeStatus, command)
        station_id = _station_id(command, payload.station_id)
        row = await _load(uow, station_id)
        if row is None:
            raise CommandRejected("NOT_FOUND", f"station {station_id!r} is not registered")
        try:
            target = transition(row.status, action)
        except StationError as exc:
            raise CommandRejected(exc.status, str(exc)) from None
        if target == row.status:  # already there: nothing changes, nothing is published
            return "OK", {"station_id": station_id, "status": target.value, "registry_version": row.registry_version}
        at = command.requested_at
        await uow.conn.execute(sa.update(stations).where(stations.c.id == station_id).values(
            status=target.value, updated_at=at))
        await _history(uow, command, station_id, row.status, target.value, payload.reason)
        version = await publish_registry(uow, station_id, at)
        emit_event(uow, "StationStatusChanged", station_id, {
            "previous_status": row.status, "status": target.value, "reason": payload.reason,
            "command_id": command.command_id, "changed_at": at})
        return "OK", {"station_id": station_id, "status": target.value, "registry_version": version}

    change_status.__doc__ = f"{action.capitalize()}Station: move the registration status (see domain.transition)."
    return change_status


approve_station = _status_command("approve")
reject_station = _status_command("reject")
decommission_station = _status_command("decommission")


async def define_location(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """DefineLocation: create a location (CREATED) or replace its data (OK)."""
    payload = _parse(p.DefineLocation, command)
    location_id = payload.location_id or command.aggregate_id
    if not location_id:
        raise CommandRejected("INVALID", "location_id is required")
    at = command.requested_at
    data = payload.model_dump(exclude={"location_id"})
    stmt = insert(locations).values(id=location_id, created_at=at, updated_at=at, **data)
    result = await uow.conn.execute(stmt.on_conflict_do_update(
        index_elements=["id"], set_={**{k: stmt.excluded[k] for k in data}, "updated_at": at},
    ).returning(sa.literal_column("xmax = 0").label("created")))
    created = bool(result.scalar_one())
    return ("CREATED" if created else "OK"), {"location_id": location_id}


COMMANDS = {
    "RegisterStation": register_station,
    "UpdateStation": update_station,
    "ApproveStation": approve_station,
    "RejectStation": reject_station,
    "DecommissionStation": decommission_station,
    "DefineLocation": define_location,
}

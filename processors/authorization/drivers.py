"""Driver and membership-level commands (topic `auth.commands`).

Times written are the command's `requested_at`; a new driver's id, when not given, is derived from the command
id (uuid5), so replaying the command log rebuilds the same store.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from processors.authorization import payloads as p
from processors.authorization._command_support import aggregate, live_driver, parse, require_level
from processors.authorization.local_lists import refresh_local_lists
from processors.authorization.publish import emit_event, publish_driver_tokens
from processors.authorization.store import drivers, membership_levels
from processors.runtime import Command, CommandRejected, UnitOfWork

DRIVER_IDS = uuid.UUID("5b0f6a56-1d0c-4a43-9a53-3f2f8a0c7d11")
_ACCESS = ("allowed_station_ids", "allowed_location_ids", "allowed_hours", "status")
# driver fields that TokenState carries: a change republishes the driver's tokens (the level is for billing's
# membership discounts; it does not change what a station's local list holds)
_PUBLISHED = (*_ACCESS, "membership_level")
_PROFILE = ("user_id", "name", "email", "phone", "membership_level", "allowed_station_ids", "allowed_location_ids",
            "allowed_hours")


async def _email_taken(uow: UnitOfWork, email: str, driver_id: str | None = None) -> bool:
    query = sa.select(drivers.c.id).where(sa.func.lower(drivers.c.email) == email.lower(),
                                          drivers.c.deleted_at.is_(None))
    if driver_id:
        query = query.where(drivers.c.id != driver_id)
    return (await uow.conn.execute(query)).first() is not None


def _values(payload: p.DriverFields, fields: set[str]) -> dict[str, Any]:
    values = {f: getattr(payload, f) for f in _PROFILE if f in fields}
    if "allowed_hours" in values and values["allowed_hours"] is not None:
        values["allowed_hours"] = [w.model_dump(mode="json") for w in payload.allowed_hours or ()]
    return values


async def create_driver(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """CreateDriver: a new driver; CONFLICT if the email (case-insensitive), user id or driver id is taken."""
    payload = parse(p.CreateDriver, command)
    driver_id = payload.driver_id or command.aggregate_id or str(uuid.uuid5(DRIVER_IDS, command.command_id))
    if await _email_taken(uow, payload.email):
        raise CommandRejected("CONFLICT", "a driver with this email exists")
    await require_level(uow, payload.membership_level)
    at = command.requested_at
    stmt = insert(drivers).values(id=driver_id, status="ACTIVE", created_at=at, updated_at=at,
                                  **_values(payload, set(_PROFILE)))
    created = await uow.conn.execute(stmt.on_conflict_do_nothing().returning(drivers.c.id))
    if created.one_or_none() is None:
        raise CommandRejected("CONFLICT", "a driver with this id or user id exists")
    emit_event(uow, "DriverCreated", driver_id, {
        "driver_id": driver_id, "user_id": payload.user_id, "name": payload.name, "email": payload.email,
        "phone": payload.phone, "membership_level": payload.membership_level, "status": "ACTIVE",
        "command_id": command.command_id, "created_at": at})
    return "CREATED", {"driver_id": driver_id}


async def _update(command: Command, uow: UnitOfWork, driver_id: str, values: dict[str, Any]) -> tuple[str, Any]:
    row = await live_driver(uow, driver_id)
    if "email" in values and await _email_taken(uow, values["email"], driver_id):
        raise CommandRejected("CONFLICT", "a driver with this email exists")
    if "membership_level" in values:
        await require_level(uow, values["membership_level"])
    changed = sorted(k for k, v in values.items() if getattr(row, k) != v)
    if not changed:
        return "OK", {"driver_id": driver_id, "changed": []}
    at = command.requested_at
    updated = (await uow.conn.execute(sa.update(drivers).where(drivers.c.id == driver_id).values(
        updated_at=at, version=drivers.c.version + 1, **{k: values[k] for k in changed}).returning(drivers))).one()
    if any(k in _PUBLISHED for k in changed):
        await publish_driver_tokens(uow, driver_id, at, action="DRIVER_UPDATED", command_id=command.command_id)
    if any(k in _ACCESS for k in changed):
        await refresh_local_lists(uow, at)
    emit_event(uow, "DriverUpdated", driver_id, {
        "driver_id": driver_id, "changed_fields": changed, "user_id": updated.user_id, "name": updated.name,
        "email": updated.email, "phone": updated.phone, "membership_level": updated.membership_level,
        "status": updated.status, "allowed_station_ids": updated.allowed_station_ids,
        "allowed_location_ids": updated.allowed_location_ids, "command_id": command.command_id, "updated_at": at})
    return "OK", {"driver_id": driver_id, "changed": changed}


async def update_driver(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """UpdateDriver: change the fields sent (status ACTIVE/SUSPENDED; a suspended driver's tokens are Blocked)."""
    payload = parse(p.UpdateDriver, command)
    driver_id = aggregate(command, payload.driver_id, "driver_id")
    values = _values(payload, payload.model_fields_set)
    if payload.status is not None:
        values["status"] = payload.status
    return await _update(command, uow, driver_id, values)


async def set_membership_level(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """SetMembershipLevel: move a driver to a defined level."""
    payload = parse(p.SetMembershipLevel, command)
    return await _update(command, uow, aggregate(command, payload.driver_id, "driver_id"),
                         {"membership_level": payload.level})


async def delete_driver(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """DeleteDriver: soft delete (history kept, email freed); the driver's tokens are published Blocked."""
    payload = parse(p.DriverRef, command)
    driver_id = aggregate(command, payload.driver_id, "driver_id")
    await live_driver(uow, driver_id)
    at = command.requested_at
    await uow.conn.execute(sa.update(drivers).where(drivers.c.id == driver_id).values(
        status="DELETED", deleted_at=at, updated_at=at, version=drivers.c.version + 1))
    await publish_driver_tokens(uow, driver_id, at, action="DRIVER_DELETED", command_id=command.command_id)
    await refresh_local_lists(uow, at)
    emit_event(uow, "DriverDeleted", driver_id, {"driver_id": driver_id, "command_id": command.command_id,
                                                 "deleted_at": at})
    return "OK", {"driver_id": driver_id}


async def define_membership_level(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """DefineMembershipLevel: create (CREATED) or change (OK) a level and its benefits."""
    payload = parse(p.DefineMembershipLevel, command)
    level = aggregate(command, payload.level, "level")
    at = command.requested_at
    stmt = insert(membership_levels).values(code=level, name=payload.name, benefits=payload.benefits,
                                            created_at=at, updated_at=at)
    result = await uow.conn.execute(stmt.on_conflict_do_update(
        index_elements=["code"], set_={"name": stmt.excluded.name, "benefits": stmt.excluded.benefits,
                                       "updated_at": at}).returning(sa.literal_column("xmax = 0")))
    created = bool(result.scalar_one())
    emit_event(uow, "MembershipLevelDefined", level, {
        "level": level, "name": payload.name, "benefits_json": orjson.dumps(payload.benefits).decode(),
        "command_id": command.command_id, "defined_at": at})
    return ("CREATED" if created else "OK"), {"level": level}

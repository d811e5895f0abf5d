"""Tariffs in the store: commands (CreateTariff, UpdateTariff, DeleteTariff, AssignTariff, UnassignTariff), the
payload format, and the `TariffBook` each process keeps (versions are immutable, so they cache forever).

Payload (JSON, modelled on OCPI 2.2.1 `Tariff`; money and percentages are decimal *strings*, never numbers)::

    {"currency": "EUR", "vat_percent": "19", "time_zone": "Europe/Berlin", "membership_discounts": {"GOLD": "10"},
     "start_date_time": "2026-01-01T00:00:00Z", "end_date_time": null,
     "elements": [{"price_components": [{"type": "ENERGY", "price": "0.39", "step_size": 1}],
                   "restrictions": {"start_time": "22:00", "end_time": "06:00"}}]}

Assignment precedence (domain `select_tariff`): DRIVER_GROUP > CONNECTOR ("<station>/<evse>") > STATION > SITE
(location id) > CONNECTOR_TYPE (the stations registry's type: TYPE_1, TYPE_2, CCS1, CCS2, CHADEMO, GBT_AC, GBT_DC,
NACS, SCHUKO, OTHER; see terms.connector_type_of) > OPERATOR_DEFAULT (key ""). A deleted tariff is never selected
again; sessions that pinned one of its versions keep it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from processors.billing import store
from processors.billing.domain import (
    Scope,
    Tariff,
    TariffAssignment,
    TariffContext,
    TariffRef,
    parse_timestamp,
    select_tariff,
    tariff_from_ocpi,
)
from processors.runtime import Command, CommandRejected, UnitOfWork


def _decimal(where: str, raw: Any) -> Decimal:
    if not isinstance(raw, str):
        raise CommandRejected("INVALID", f"{where} must be a decimal string such as \"0.35\", not {raw!r}")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise CommandRejected("INVALID", f"{where} is not a decimal: {raw!r}") from None
    if not value.is_finite():
        raise CommandRejected("INVALID", f"{where} is not finite")
    return value


def tariff_from_body(tariff_id: str, version: int, body: Mapping[str, Any]) -> Tariff:
    """A domain Tariff from a stored (validated) payload."""
    tariff = tariff_from_ocpi(
        {**body, "id": tariff_id}, version=version, vat_percent=Decimal(body.get("vat_percent") or "0"),
        time_zone=body.get("time_zone") or "UTC",
        membership_discounts={k: Decimal(v) for k, v in (body.get("membership_discounts") or {}).items()},
        effective_from=parse_timestamp(body["start_date_time"]) if body.get("start_date_time") else None,
    )
    if body.get("end_date_time"):
        tariff = replace(tariff, effective_to=parse_timestamp(body["end_date_time"]))
    return tariff


def validate(tariff_id: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload to store, or CommandRejected("INVALID", reason)."""
    body = {k: payload[k] for k in ("currency", "vat_percent", "time_zone", "membership_discounts",
                                    "start_date_time", "end_date_time", "elements") if k in payload}
    if not isinstance(body.get("elements"), list):
        raise CommandRejected("INVALID", "elements must be a list")
    for i, element in enumerate(body["elements"]):
        for j, component in enumerate((element or {}).get("price_components") or ()):
            _decimal(f"elements[{i}].price_components[{j}].price", component.get("price"))
    _decimal("vat_percent", body.get("vat_percent", "0"))
    for level, percent in (body.get("membership_discounts") or {}).items():
        _decimal(f"membership_discounts.{level}", percent)
    try:
        tariff_from_body(tariff_id, 1, body)
    except (KeyError, TypeError, ValueError, LookupError) as exc:
        raise CommandRejected("INVALID", f"invalid tariff: {exc}") from None
    return body


async def _bump(conn: AsyncConnection) -> None:
    stmt = insert(store.tariff_generation).values(id=1, generation=1)
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=["id"], set_={"generation": store.tariff_generation.c.generation + 1}))


def _tariff_id(command: Command) -> str:
    tariff_id = command.payload.get("id") or command.aggregate_id
    if not isinstance(tariff_id, str) or not tariff_id:
        raise CommandRejected("INVALID", "a tariff needs an id")
    return tariff_id


async def create_tariff(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """CreateTariff {id, ...payload} -> CREATED {tariff_id, version: 1}; CONFLICT if the id exists."""
    tariff_id = _tariff_id(command)
    body = validate(tariff_id, command.payload)
    created = await uow.conn.execute(insert(store.tariffs).values(tariff_id=tariff_id).on_conflict_do_nothing())
    if created.rowcount == 0:
        raise CommandRejected("CONFLICT", f"tariff {tariff_id} exists")
    await uow.conn.execute(sa.insert(store.tariff_versions).values(tariff_id=tariff_id, version=1, body=body))
    await _bump(uow.conn)
    return "CREATED", {"tariff_id": tariff_id, "version": 1}


async def update_tariff(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """UpdateTariff {id, ...payload} -> OK {tariff_id, version}: a new immutable version."""
    tariff_id = _tariff_id(command)
    body = validate(tariff_id, command.payload)
    t = store.tariffs
    query = sa.select(t.c.deleted_at).where(t.c.tariff_id == tariff_id).with_for_update()
    row = (await uow.conn.execute(query)).first()
    if row is None or row.deleted_at is not None:
        raise CommandRejected("NOT_FOUND", f"no tariff {tariff_id}")
    v = store.tariff_versions
    latest = (await uow.conn.execute(sa.select(sa.func.max(v.c.version)).where(v.c.tariff_id == tariff_id))).scalar()
    version = int(latest or 0) + 1
    await uow.conn.execute(sa.insert(v).values(tariff_id=tariff_id, version=version, body=body))
    await _bump(uow.conn)
    return "OK", {"tariff_id": tariff_id, "version": version}


async def delete_tariff(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """DeleteTariff {id} -> OK: never selected again; its assignments are removed; pinned sessions keep it."""
    tariff_id = _tariff_id(command)
    t = store.tariffs
    done = await uow.conn.execute(sa.update(t).where(t.c.tariff_id == tariff_id, t.c.deleted_at.is_(None))
                                  .values(deleted_at=datetime.now(UTC)))
    if done.rowcount == 0:
        raise CommandRejected("NOT_FOUND", f"no tariff {tariff_id}")
    await uow.conn.execute(sa.delete(store.tariff_assignments).where(store.tariff_assignments.c.tariff_id == tariff_id))
    await _bump(uow.conn)
    return "OK", {"tariff_id": tariff_id, "deleted": True}


def _scope(payload: Mapping[str, Any]) -> tuple[Scope, str]:
    try:
        scope = Scope[str(payload.get("scope"))]
    except KeyError:
        raise CommandRejected("INVALID", f"scope must be one of {[s.name for s in Scope]}") from None
    key = payload.get("key") or ""
    if scope is not Scope.OPERATOR_DEFAULT and not key:
        raise CommandRejected("INVALID", f"scope {scope.name} needs a key")
    return scope, str(key)


async def assign_tariff(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """AssignTariff {scope, key, tariff_id} -> OK; replaces the tariff assigned at (scope, key)."""
    scope, key = _scope(command.payload)
    tariff_id = command.payload.get("tariff_id")
    t = store.tariffs
    exists = (await uow.conn.execute(sa.select(t.c.tariff_id).where(
        t.c.tariff_id == tariff_id, t.c.deleted_at.is_(None)))).first()
    if exists is None:
        raise CommandRejected("NOT_FOUND", f"no tariff {tariff_id}")
    a = store.tariff_assignments
    await uow.conn.execute(sa.delete(a).where(a.c.scope == scope.name, a.c.key == key))
    await uow.conn.execute(sa.insert(a).values(scope=scope.name, key=key, tariff_id=tariff_id))
    await _bump(uow.conn)
    return "OK", {"scope": scope.name, "key": key, "tariff_id": tariff_id}


async def unassign_tariff(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """UnassignTariff {scope, key} -> OK."""
    scope, key = _scope(command.payload)
    a = store.tariff_assignments
    await uow.conn.execute(sa.delete(a).where(a.c.scope == scope.name, a.c.key == key))
    await _bump(uow.conn)
    return "OK", {"scope": scope.name, "key": key}


class TariffBook:
    """A process's copy of the tariffs: reloaded when the store's tariff generation moved."""

    def __init__(self) -> None:
        self.generation: int | None = None
        self.assignments: list[TariffAssignment] = []
        self.versions: dict[TariffRef, Tariff] = {}
        self.live: set[str] = set()

    async def refresh(self, conn: AsyncConnection) -> None:
        """Reload assignments and versions if a tariff command ran since the last load."""
        gen = (await conn.execute(sa.select(store.tariff_generation.c.generation))).scalar()
        if gen == self.generation:
            return
        a, t, v = store.tariff_assignments, store.tariffs, store.tariff_versions
        self.assignments = [TariffAssignment(Scope[r.scope], r.key, r.tariff_id)
                            for r in await conn.execute(sa.select(a))]
        self.live = {r.tariff_id for r in await conn.execute(sa.select(t.c.tariff_id).where(t.c.deleted_at.is_(None)))}
        for r in await conn.execute(sa.select(v)):
            ref = TariffRef(r.tariff_id, r.version)
            if ref not in self.versions:
                self.versions[ref] = tariff_from_body(r.tariff_id, r.version, r.body)
        self.generation = gen

    def select(self, context: TariffContext, at: datetime) -> Tariff | None:
        """The tariff version a session starting at `at` is priced with (precedence in the module doc)."""
        assignments = [x for x in self.assignments if x.tariff_id in self.live]
        return select_tariff(assignments, self.versions.values(), context, at)

    async def version(self, conn: AsyncConnection, ref: TariffRef) -> Tariff | None:
        """A pinned version (immutable, so cached without expiry)."""
        if ref not in self.versions:
            v = store.tariff_versions
            row = (await conn.execute(sa.select(v.c.body).where(v.c.tariff_id == ref.id, v.c.version == ref.version))
                   ).first()
            if row is None:
                return None
            self.versions[ref] = tariff_from_body(ref.id, ref.version, row.body)
        return self.versions[ref]

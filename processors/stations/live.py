"""Live state from `ocpp.messages`: boots, liveness, connector status, configuration.

`apply_ocpp_batch` is the batch handler for `csms.ocpp.OcppMessage`. Rare messages (BootNotification results,
GetConfiguration results, NotifyReport) are applied one by one in offset order as they come; the hot ones
(every frame's liveness, Heartbeat, StatusNotification, NotifyEvent) are collected and applied with a few
set-based statements at the end of the batch. Only what the CSMS answered (or the charger answered to a CSMS
call) is applied; a frame of a station not in the registry changes nothing (except a boot, which records it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from processors.runtime import Event, OcppExchange, UnitOfWork, exchange
from processors.stations.connectivity import start_connectivity
from processors.stations.domain import boot_details, registration_from_boot_answer
from processors.stations.registry import emit_event, publish_registry
from processors.stations.status import apply_statuses, mark_online
from processors.stations.store import station_configuration, station_status_history, stations
from processors.stations.translate import ConnectorStatusFact, configuration, connector_statuses

_STATUS_ACTIONS = frozenset({"StatusNotification", "NotifyEvent"})


async def apply_ocpp_batch(events: Sequence[Event], uow: UnitOfWork) -> None:
    """Apply a run of OcppMessage events (see the module docstring for the order of effects)."""
    seen: dict[str, datetime] = {}
    heartbeats: dict[str, datetime] = {}
    statuses: list[ConnectorStatusFact] = []
    for event in events:
        v = event.value
        if v is None:
            continue
        station, action, at = v["station_id"], v.get("action"), v["received_at"]
        from_charger = v["direction"] == "CHARGER_TO_CSMS"
        # the edge's answer to a charger's call is as good a sign of life as the call (same instant), and it
        # lets this processor skip the charger CALL records without decoding them (bootstrap.py)
        answered = not from_charger and v["message_type"] in ("CALLRESULT", "CALLERROR") and not v.get("command_id")
        if (from_charger or answered) and (station not in seen or at > seen[station]):
            seen[station] = at
        if v["message_type"] != "CALLRESULT":
            continue
        if action == "Heartbeat" and not from_charger:
            if station not in heartbeats or at > heartbeats[station]:
                heartbeats[station] = at
        elif action in _STATUS_ACTIONS and not from_charger:
            statuses.extend(connector_statuses(exchange(event)))
        elif action == "BootNotification" and not from_charger:
            await apply_boot(exchange(event), uow)
        elif action in ("GetConfiguration", "NotifyReport"):
            await apply_configuration(exchange(event), uow)
    if seen:
        await mark_online(uow, seen, heartbeats)
    if statuses:
        await apply_statuses(uow, statuses)


async def apply_boot(ex: OcppExchange, uow: UnitOfWork) -> None:
    """A BootNotification the edge answered: record an unknown station, or refresh a known one's details."""
    details = boot_details(ex.ocpp_version, ex.request or {})
    at = ex.received_at
    row = (await uow.conn.execute(
        sa.select(stations.c.id, stations.c.status).where(stations.c.id == ex.station_id).with_for_update()
    )).one_or_none()
    if row is not None:
        known = {k: v for k, v in details.items() if v is not None}
        await uow.conn.execute(sa.update(stations).where(stations.c.id == ex.station_id).values(
            ocpp_version=ex.ocpp_version, last_boot_at=at, updated_at=at, **known))
        return
    status = registration_from_boot_answer((ex.payload or {}).get("status"))
    await uow.conn.execute(sa.insert(stations).values(
        id=ex.station_id, status=status.value, registered_via="BOOT", ocpp_version=ex.ocpp_version,
        last_boot_at=at, created_at=at, updated_at=at, **details))
    await uow.conn.execute(sa.insert(station_status_history).values(
        source_id=ex.event_id, station_id=ex.station_id, kind="REGISTRATION", previous_status=None,
        status=status.value, reason="booted while unknown", at=at))
    await publish_registry(uow, ex.station_id, at)
    emit_event(uow, "StationRegistered", ex.station_id, {
        "status": status.value, "source": "BOOT", "ocpp_version": ex.ocpp_version, "registered_at": at,
        **details})
    await start_connectivity(uow, ex.station_id)


async def apply_configuration(ex: OcppExchange, uow: UnitOfWork) -> None:
    """Store the configuration keys / device-model variables a known station reported."""
    facts = list(configuration(ex))
    if not facts:
        return
    exists = (await uow.conn.execute(sa.select(stations.c.id).where(stations.c.id == ex.station_id))).one_or_none()
    if exists is None:
        return
    rows: list[dict[str, Any]] = [
        {"station_id": f.station_id, "key": f.key, "component": f.component,
         "component_instance": f.component_instance, "evse_id": f.evse_id, "connector_id": f.connector_id,
         "variable": f.variable, "variable_instance": f.variable_instance, "attribute_type": f.attribute_type,
         "value": f.value, "readonly": f.readonly, "source": f.source, "reported_at": f.reported_at}
        for f in {f.key: f for f in facts}.values()  # one row per key (the last reported)
    ]
    stmt = insert(station_configuration).values(rows)
    updatable = [c for c in rows[0] if c not in ("station_id", "key")]
    await uow.conn.execute(stmt.on_conflict_do_update(
        index_elements=["station_id", "key"], set_={c: stmt.excluded[c] for c in updatable},
        where=station_configuration.c.reported_at <= stmt.excluded.reported_at))

"""Monitoring's handlers, registered by schema full name (the runtime dispatches; see docs/processors.md).

    csms.ocpp.OcppMessage         batch: last-seen per station, sampled values (COPY + roll-ups), then one
                                  applier per answered action (_ocpp_actions.ACTIONS)
    csms.ocpp.ConnectionEvent     connection intervals, uptime, disconnections
    csms.runtime.DeadLetter       kept for the DEAD_LETTER rule
    csms.stations.StationRegistryEntry  site (location) and operator of each station, for scopes and reports
    csms.common.Command           rule and alert commands (_commands.py)
    csms.billing.Session*         revenue per session (_revenue.py); other billing events are skipped
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert

from processors.monitoring import _health, _revenue, _timeseries
from processors.monitoring._commands import handle_command
from processors.monitoring._ocpp_actions import ACTIONS, SAMPLED_ACTIONS
from processors.monitoring.store import dead_letters
from processors.runtime import BatchHandler, Event, Handler, OcppExchange, UnitOfWork, exchange

_APPLIED = ACTIONS.keys() | SAMPLED_ACTIONS


async def apply_ocpp_messages(events: Sequence[Event], uow: UnitOfWork) -> None:
    """Apply a run of OCPP frames: last-seen per station, sampled values staged as raw JSON for set-based SQL,
    JSON decoded in Python only for the (rarer) answered actions that have an applier."""
    last_seen: dict[str, datetime] = {}
    answered: list[OcppExchange] = []
    readings: list[tuple[str, datetime, bool, str, str]] = []
    for event in events:
        v = event.value
        if v is None:
            continue
        if v["direction"] == "CHARGER_TO_CSMS":
            station, at = v["station_id"], v["received_at"]
            if station not in last_seen or at > last_seen[station]:
                last_seen[station] = at
            continue
        action = v.get("action")
        if v["message_type"] != "CALLRESULT" or action not in _APPLIED:
            continue
        if action in SAMPLED_ACTIONS and v.get("request_payload_json"):
            readings.append((v["station_id"], v["received_at"], v["ocpp_version"] != "ocpp1.6", action,
                             v["request_payload_json"]))
        if action in ACTIONS:
            answered.append(exchange(event))
    await _timeseries.touch_stations(uow.conn, last_seen)
    await _timeseries.store_readings(uow.conn, readings)
    for ex in answered:
        applier = ACTIONS.get(ex.action or "")
        if applier is not None:
            await applier(ex, uow.conn)


async def apply_connection(event: Event, uow: UnitOfWork) -> None:
    """CONNECTED opens a connection interval, DISCONNECTED closes it; REFUSED is a fleet-health event."""
    v = event.value
    if v is None:
        return
    kind, station, at = v["kind"], v["station_id"], v["at"]
    if kind == "CONNECTED":
        await _health.open_connection(uow.conn, station, v["connection_id"], v["edge_id"], at)
        await _health.update_station(uow.conn, station, ocpp_version=v.get("ocpp_version"))
    elif kind == "DISCONNECTED":
        await _health.close_connection(uow.conn, station, v["connection_id"], at, v.get("close_code"),
                                       v.get("close_reason"))
    elif kind == "REFUSED":
        await _health.record_event(uow.conn, station, "CONNECTION_REFUSED", at, code=str(v.get("close_code")),
                                   detail=v.get("close_reason"))


async def record_dead_letter(event: Event, uow: UnitOfWork) -> None:
    """Keep the dead letter's facts (not its payload) for the DEAD_LETTER rule and the fleet view."""
    v = event.value
    if v is None:
        return
    await uow.conn.execute(insert(dead_letters).values(
        event_id=event.event_id, consumer_group=v["consumer_group"], topic=v["topic"], partition=v["partition"],
        offset=v["offset"], reason=str(v["reason"]), error=v["error"][:4000], failed_at=v["failed_at"],
    ).on_conflict_do_nothing())


async def apply_registry_entry(event: Event, uow: UnitOfWork) -> None:
    """A station's site (location) and operator from the stations registry; a tombstone clears them."""
    if event.key is None:
        return
    v = event.value or {}
    await _health.update_station(uow.conn, event.key, site_id=v.get("location_id"), operator_id=v.get("operator_id"),
                                 registry_status=v.get("status", "REMOVED"))


HANDLERS: dict[str, list[Handler]] = {
    "csms.ocpp.ConnectionEvent": [apply_connection],
    "csms.runtime.DeadLetter": [record_dead_letter],
    "csms.stations.StationRegistryEntry": [apply_registry_entry],
    "csms.common.Command": [handle_command],
    "csms.billing.SessionStarted": [_revenue.on_session_started],
    "csms.billing.SessionEnded": [_revenue.on_session_ended],
    "csms.billing.SessionPriced": [_revenue.on_session_priced],
}
BATCH_HANDLERS: dict[str, BatchHandler] = {
    "csms.ocpp.OcppMessage": apply_ocpp_messages,
}

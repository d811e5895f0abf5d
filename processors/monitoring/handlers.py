"""Monitoring's handlers, registered by schema full name (the runtime dispatches; see docs/processors.md).

    csms.ocpp.OcppMessage         batch: last-seen per station, sampled values (COPY; roll-ups folded later), then
                                  one applier per answered action (_ocpp_actions.ACTIONS); charger CALLs are
                                  skipped before decoding (`skip_charger_calls`)
    csms.ocpp.ConnectionEvent     connection intervals, uptime, disconnections
    csms.runtime.DeadLetter       kept for the DEAD_LETTER rule
    csms.stations.StationRegistryEntry  site (location) and operator of each station, for scopes and reports
    csms.common.Command           rule and alert commands (_commands.py)
    csms.billing.Session*         revenue per session (_revenue.py); other billing events are skipped
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson
from sqlalchemy.dialects.postgresql import insert

from processors.monitoring import _health, _revenue, _timeseries
from processors.monitoring._commands import handle_command
from processors.monitoring._ocpp_actions import ACTIONS, SAMPLED_ACTIONS
from processors.monitoring._samplerows import SampleRows
from processors.monitoring.store import dead_letters
from processors.runtime import BatchHandler, Event, Handler, OcppExchange, UnitOfWork, exchange
from schemas import header

_ANSWERS = frozenset({"CALLRESULT", "CALLERROR"})


async def apply_ocpp_messages(events: Sequence[Event], uow: UnitOfWork) -> None:
    """Apply a run of OCPP frames: last-seen per station, the sampled values of the answered MeterValues /
    StopTransaction / TransactionEvent (COPY), then the appliers of the other answered actions in order."""
    last_seen: dict[str, datetime] = {}
    answered: list[OcppExchange] = []
    rows = SampleRows()
    for event in events:
        v = event.value
        if v is None:
            continue
        direction, kind = v["direction"], v["message_type"]
        # a frame from the charger, or the edge's answer to one (the charger's CALL itself is skipped unread)
        if direction == "CHARGER_TO_CSMS" or kind in _ANSWERS:
            station, at = v["station_id"], v["received_at"]
            if station not in last_seen or at > last_seen[station]:
                last_seen[station] = at
        if direction != "CSMS_TO_CHARGER" or kind != "CALLRESULT":
            continue
        action = v.get("action")
        if action in ACTIONS:
            ex = exchange(event)
            answered.append(ex)
            if action in SAMPLED_ACTIONS:
                rows.add(ex.station_id, ex.received_at, not ex.is_v16, action, ex.request)
        elif action in SAMPLED_ACTIONS and (request := v.get("request_payload_json")):
            rows.add(v["station_id"], v["received_at"], v["ocpp_version"] != "ocpp1.6", action, orjson.loads(request))
    await _timeseries.touch_stations(uow.conn, last_seen)
    await _timeseries.store_samples(uow.conn, rows)
    for ex in answered:
        await ACTIONS[ex.action or ""](ex, uow.conn)


def skip_charger_calls(headers: Sequence[tuple[str, bytes]]) -> bool:
    """`ProcessorSpec.skip`: a charger's CALL (and a CSMS-initiated one) is not decoded: the edge's answer that
    follows it carries the request, and its receive time is the station's sign of life. A CALL without an action
    (a frame the edge could not read) is kept."""
    return header(headers, "ocpp_type") == b"CALL" and header(headers, "ocpp_action") is not None


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

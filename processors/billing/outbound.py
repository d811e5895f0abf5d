"""What the billing processor publishes: domain events on billing.events, session state on billing.sessions,
and charger commands (CostUpdated, stop requests) on ocpp.commands. Decimals travel as strings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from processors.billing.domain import (
    DomainEvent,
    SessionEnded,
    SessionFlagged,
    SessionPriced,
    SessionStarted,
    SessionUpdated,
)
from processors.billing.session_store import SessionRecord, cost_to_json
from processors.runtime import UnitOfWork

EVENTS = "billing.events"
SESSIONS = "billing.sessions"
OCPP_COMMANDS = "ocpp.commands"
NS = "csms.billing."


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _event_value(record: SessionRecord, event: DomainEvent) -> tuple[str, dict[str, Any]]:
    sid = record.session.session_id
    if isinstance(event, SessionStarted):
        tariff = record.session.tariff
        return "SessionStarted", {
            "session_id": sid, "station_id": event.station_id, "transaction_id": event.transaction_id,
            "evse_id": event.evse_id, "connector_id": event.connector_id, "id_token": event.id_token,
            "driver_id": event.driver_id, "started_at": event.started_at, "start_received_at": event.start_received_at,
            "meter_start_wh": _s(event.meter_start_wh), "tariff_id": tariff.id if tariff else None,
            "tariff_version": tariff.version if tariff else None}
    if isinstance(event, SessionUpdated):
        return "SessionUpdated", {"session_id": sid, "status": event.status.value, "energy_wh": str(event.energy_wh),
                                  "last_meter_at": event.last_meter_at}
    if isinstance(event, SessionEnded):
        return "SessionEnded", {
            "session_id": sid, "status": event.status.value, "stopped_at": event.stopped_at,
            "stop_received_at": event.stop_received_at, "stop_reason": event.stop_reason,
            "meter_stop_wh": _s(event.meter_stop_wh), "energy_wh": str(event.energy_wh)}
    if isinstance(event, SessionFlagged):
        return "SessionFlagged", {"session_id": sid, "flag": event.flag.value, "status": event.status.value,
                                  "note": event.note}
    assert isinstance(event, SessionPriced)
    cost = event.cost
    return "SessionPriced", {
        "session_id": sid, "status": event.status.value, "billable": event.billable, "tariff_id": cost.tariff.id,
        "tariff_version": cost.tariff.version, "currency": cost.currency, "subtotal": str(cost.subtotal),
        "discount": str(cost.discount), "total_excl_vat": str(cost.total_excl_vat), "vat": str(cost.vat),
        "total_incl_vat": str(cost.total_incl_vat),
        "components_json": orjson.dumps(cost_to_json(cost)["components"]).decode(),
        "priced_until": cost.priced_until}


def emit_session_events(uow: UnitOfWork, record: SessionRecord, events: list[DomainEvent],
                        update_interval: timedelta = timedelta(0)) -> None:
    """The session's new domain events and its state snapshot. SessionUpdated (meter progress) is coalesced to
    the last one, and sent at most once per `update_interval` per session unless the status changed; starts,
    ends, flags and prices are always sent."""
    now = datetime.now(UTC)
    last_update = max((i for i, e in enumerate(events) if isinstance(e, SessionUpdated)), default=None)
    if last_update is not None and len(events) == 1:
        update = events[last_update]
        assert isinstance(update, SessionUpdated)
        recent = record.updated_sent_at is not None and now - record.updated_sent_at < update_interval
        if recent and update.status.value == record.updated_status:
            return
    for i, event in enumerate(events):
        if isinstance(event, SessionUpdated) and i != last_update:
            continue
        name, value = _event_value(record, event)
        uow.emit(EVENTS, record.session.session_id, NS + name, value)
    if events:
        record.updated_sent_at, record.updated_status = now, record.session.state.status.value
        emit_state(uow, record)


def emit_state(uow: UnitOfWork, record: SessionRecord) -> None:
    """The compacted billing.sessions record of a session."""
    session, state = record.session, record.session.state
    cost = session.cost
    uow.emit(SESSIONS, session.session_id, NS + "ChargingSessionState", {
        "session_id": session.session_id, "station_id": state.station_id, "transaction_id": state.transaction_id,
        "evse_id": state.evse_id, "connector_id": state.connector_id, "id_token": state.id_token,
        "driver_id": state.driver_id, "status": state.status.value, "ended": state.ended,
        "started_at": state.started_at, "start_received_at": state.start_received_at, "stopped_at": state.stopped_at,
        "stop_received_at": state.stop_received_at, "meter_start_wh": _s(state.meter_start_wh),
        "meter_stop_wh": _s(state.meter_stop_wh), "energy_wh": str(state.energy_wh),
        "energy_source": state.energy_source.value, "stop_reason": state.stop_reason,
        "flags": sorted(f.value for f in state.flags),
        "tariff_id": session.tariff.id if session.tariff else None,
        "tariff_version": session.tariff.version if session.tariff else None,
        "currency": cost.currency if cost else None, "total_incl_vat": _s(cost.total_incl_vat) if cost else None,
        "updated_at": datetime.now(UTC)})


def emit_ocpp_command(uow: UnitOfWork, station_id: str, action: str, payload_json: str,
                      *, ttl: timedelta = timedelta(minutes=5)) -> str:
    """A CSMS-initiated call for the edge to deliver (csms.ocpp.OcppCommand); returns the command id.
    The payload is JSON text, so money goes out as an exact JSON number."""
    now = datetime.now(UTC)
    command_id = str(uuid.uuid4())
    uow.emit(OCPP_COMMANDS, station_id, "csms.ocpp.OcppCommand", {
        "command_id": command_id, "station_id": station_id, "action": action,
        "payload_json": payload_json, "requested_at": now, "expires_at": now + ttl,
        "requested_by": "billing"})
    return command_id

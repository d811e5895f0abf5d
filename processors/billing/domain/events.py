"""What the billing domain takes in and what it records.

Inputs (`TxStarted`, `TxMeter`, `TxEnded`) are plain facts about one transaction, built by the pure
translators below from the official OCPP 1.6 and 2.0.1/2.1 JSON payloads. Domain events
(`SessionStarted` ... `SessionPriced`) are recorded on the `ChargingSession` aggregate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from processors.billing.domain.meter import (
    MeterReading,
    parse_timestamp,
    readings_from_v2,
    readings_from_v16,
)

if TYPE_CHECKING:
    from processors.billing.domain.pricing import CostBreakdown
    from processors.billing.domain.session import SessionState


class SessionStatus(StrEnum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    ABORTED = "ABORTED"  # ended, authorization rejected, nothing delivered: nothing to bill
    REVIEW = "REVIEW"  # an operator must look before it is billed
    DISPUTED = "DISPUTED"  # the meter data cannot be trusted: never billed as is


class SessionFlag(StrEnum):
    METER_REGRESSION = "METER_REGRESSION"
    IMPOSSIBLE_POWER = "IMPOSSIBLE_POWER"
    STOP_BEFORE_START = "STOP_BEFORE_START"
    CLOCK_SKEW = "CLOCK_SKEW"
    OVERLAPPING_SESSION = "OVERLAPPING_SESSION"
    STALE_CLOSED = "STALE_CLOSED"
    MISSING_START = "MISSING_START"
    CONFLICTING_STOPS = "CONFLICTING_STOPS"
    NO_METER_DATA = "NO_METER_DATA"
    UNAUTHORIZED_CHARGING = "UNAUTHORIZED_CHARGING"


DISPUTE_FLAGS = frozenset(
    {SessionFlag.METER_REGRESSION, SessionFlag.IMPOSSIBLE_POWER, SessionFlag.STOP_BEFORE_START}
)


@dataclass(frozen=True, kw_only=True)
class TxInput:
    """Common facts of every input: `timestamp` is the charger's clock, `received_at` the CSMS's."""

    event_id: str
    station_id: str
    transaction_id: str
    timestamp: datetime
    received_at: datetime
    seq_no: int | None = None
    offline: bool = False
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = None
    driver_id: str | None = None
    authorized: bool | None = None
    charging_state: str | None = None
    readings: tuple[MeterReading, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TxStarted(TxInput):
    meter_start_wh: Decimal | None = None


@dataclass(frozen=True, kw_only=True)
class TxMeter(TxInput):
    pass


@dataclass(frozen=True, kw_only=True)
class TxEnded(TxInput):
    meter_stop_wh: Decimal | None = None
    stop_reason: str | None = None
    synthetic: bool = False  # written by close_stale, not sent by the charger


@dataclass(frozen=True)
class SessionStarted:
    session_id: str
    station_id: str
    transaction_id: str
    evse_id: int | None
    connector_id: int | None
    id_token: str | None
    driver_id: str | None
    started_at: datetime | None
    start_received_at: datetime | None
    meter_start_wh: Decimal | None


@dataclass(frozen=True)
class SessionUpdated:
    session_id: str
    status: SessionStatus
    energy_wh: Decimal
    last_meter_at: datetime | None


@dataclass(frozen=True)
class SessionEnded:
    session_id: str
    status: SessionStatus
    stopped_at: datetime | None
    stop_received_at: datetime | None
    stop_reason: str | None
    meter_stop_wh: Decimal | None
    energy_wh: Decimal


@dataclass(frozen=True)
class SessionFlagged:
    session_id: str
    flag: SessionFlag
    status: SessionStatus
    note: str


@dataclass(frozen=True)
class SessionPriced:
    session_id: str
    status: SessionStatus
    billable: bool  # False for REVIEW / DISPUTED / ABORTED / still ACTIVE sessions
    cost: CostBreakdown


DomainEvent = SessionStarted | SessionUpdated | SessionEnded | SessionFlagged | SessionPriced


def describe_change(session_id: str, before: SessionState, after: SessionState) -> list[DomainEvent]:
    """The events recording a change of state: started and/or ended, else updated; plus each new flag."""
    if after == before:
        return []
    events: list[DomainEvent] = []
    if after.start_received_at is not None and before.start_received_at is None:
        events.append(SessionStarted(
            session_id, after.station_id, after.transaction_id, after.evse_id, after.connector_id, after.id_token,
            after.driver_id, after.started_at, after.start_received_at, after.meter_start_wh))
    if after.ended and not before.ended:  # a batch may start and end a session in one change
        events.append(SessionEnded(session_id, after.status, after.stopped_at, after.stop_received_at,
                                   after.stop_reason, after.meter_stop_wh, after.energy_wh))
    if not events:
        events = [SessionUpdated(session_id, after.status, after.energy_wh, after.last_meter_at)]
    notes = dict(after.notes)
    new_flags = sorted(after.flags - before.flags)
    return events + [SessionFlagged(session_id, flag, after.status, notes[flag]) for flag in new_flags]


def _evse(payload: Mapping[str, Any]) -> tuple[int | None, int | None]:
    evse = payload.get("evse") or {}
    return evse.get("id"), evse.get("connectorId")


def from_v16_start(
    payload: Mapping[str, Any], answer: Mapping[str, Any], *, event_id: str, station_id: str,
    received_at: datetime, driver_id: str | None = None,
) -> TxStarted:
    """StartTransaction.req + .conf (the id is in the answer). A 1.6 connector is its own EVSE."""
    connector = int(payload["connectorId"])
    return TxStarted(
        event_id=event_id, station_id=station_id, transaction_id=str(answer["transactionId"]),
        timestamp=parse_timestamp(payload["timestamp"]), received_at=received_at,
        evse_id=connector, connector_id=connector, id_token=payload.get("idTag"), driver_id=driver_id,
        authorized=answer.get("idTagInfo", {}).get("status") == "Accepted",
        meter_start_wh=Decimal(int(payload["meterStart"])),
    )


def from_v16_meter_values(
    payload: Mapping[str, Any], *, event_id: str, station_id: str, received_at: datetime
) -> TxMeter | None:
    """MeterValues.req; None when it names no transaction (connector-level samples are not billed)."""
    if payload.get("transactionId") is None:
        return None
    connector = int(payload["connectorId"])
    stamps = [parse_timestamp(mv["timestamp"]) for mv in payload["meterValue"]]
    return TxMeter(
        event_id=event_id, station_id=station_id, transaction_id=str(payload["transactionId"]),
        timestamp=max(stamps), received_at=received_at, evse_id=connector or None,
        connector_id=connector or None, readings=readings_from_v16(payload["meterValue"]),
    )


def from_v16_stop(
    payload: Mapping[str, Any], *, event_id: str, station_id: str, received_at: datetime
) -> TxEnded:
    """StopTransaction.req; `reason` may only be omitted when it is Local (1.6 StopTransaction.req)."""
    return TxEnded(
        event_id=event_id, station_id=station_id, transaction_id=str(payload["transactionId"]),
        timestamp=parse_timestamp(payload["timestamp"]), received_at=received_at,
        id_token=payload.get("idTag"), meter_stop_wh=Decimal(int(payload["meterStop"])),
        stop_reason=payload.get("reason") or "Local",
        readings=readings_from_v16(payload.get("transactionData") or ()),
    )


def from_v2_transaction_event(
    payload: Mapping[str, Any], *, event_id: str, station_id: str, received_at: datetime,
    answer: Mapping[str, Any] | None = None, driver_id: str | None = None,
) -> TxStarted | TxMeter | TxEnded:
    """TransactionEventRequest of 2.0.1 / 2.1 (+ optionally its response, for the token's status)."""
    info = payload["transactionInfo"]
    evse_id, connector_id = _evse(payload)
    token_info = (answer or {}).get("idTokenInfo")
    common: dict[str, Any] = {
        "event_id": event_id, "station_id": station_id, "transaction_id": str(info["transactionId"]),
        "timestamp": parse_timestamp(payload["timestamp"]), "received_at": received_at,
        "seq_no": int(payload["seqNo"]), "offline": bool(payload.get("offline", False)),
        "evse_id": evse_id, "connector_id": connector_id, "driver_id": driver_id,
        "id_token": (payload.get("idToken") or {}).get("idToken"),
        "authorized": None if token_info is None else token_info.get("status") == "Accepted",
        "charging_state": info.get("chargingState"),
        "readings": readings_from_v2(payload.get("meterValue") or ()),
    }
    event_type = payload["eventType"]
    if event_type == "Started":
        return TxStarted(**common)
    if event_type == "Ended":
        return TxEnded(**common, stop_reason=info.get("stoppedReason") or "Local")
    if event_type == "Updated":
        return TxMeter(**common)
    raise ValueError(f"unknown TransactionEvent eventType {event_type!r}")

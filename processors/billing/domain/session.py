"""The ChargingSession aggregate: one OCPP transaction, derived from the set of inputs seen.

Order independence: the aggregate keeps every distinct input (by `event_id`) and recomputes its state
with `derive_state`, a pure function of that set which sorts before it chooses. Any permutation,
duplication or replay of the same inputs therefore yields the same `SessionState`.

Errors::

    BillingError
     ├── ForeignInput          an input of another transaction was applied
     └── TariffAlreadyPinned   a session is priced with the tariff version pinned at its start
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from processors.billing.domain.events import (
    DISPUTE_FLAGS,
    DomainEvent,
    SessionFlag,
    SessionPriced,
    SessionStatus,
    TxEnded,
    TxInput,
    TxMeter,
    TxStarted,
    describe_change,
)
from processors.billing.domain.meter import (
    REGISTER,
    EnergySeries,
    EnergySource,
    MeterReading,
    build_series,
    current_series,
    idle_from_meter,
    idle_from_states,
    series_anomalies,
)
from processors.billing.domain.tariff import TariffRef

if TYPE_CHECKING:
    from processors.billing.domain.pricing import CostBreakdown

_END_OF_TIME = datetime.max.replace(tzinfo=UTC)


class BillingError(Exception):
    """Base of the billing domain's errors."""


class ForeignInput(BillingError):
    """An input names another station or transaction than the session's."""


class TariffAlreadyPinned(BillingError):
    """A session is priced only with the tariff version pinned when it started."""


@dataclass(frozen=True)
class SessionPolicy:
    """Data-quality thresholds; constant for a session so that its state stays order-independent."""

    max_power_w: Decimal = Decimal(400_000)
    power_slack_wh: Decimal = Decimal(50)  # meter resolution: kWh with two decimals is 10 Wh
    max_clock_skew: timedelta = timedelta(minutes=5)
    idle_power_w: Decimal = Decimal(100)  # below this, a 1.6 session is parking, not charging


@dataclass(frozen=True)
class SessionState:
    """Everything known about a session, as a value; equal sets of inputs give equal states."""

    station_id: str
    transaction_id: str
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = None
    driver_id: str | None = None
    started_at: datetime | None = None
    start_received_at: datetime | None = None
    stopped_at: datetime | None = None
    stop_received_at: datetime | None = None
    meter_start_wh: Decimal | None = None
    meter_stop_wh: Decimal | None = None
    energy_wh: Decimal = Decimal(0)
    energy_source: EnergySource = EnergySource.NONE
    stop_reason: str | None = None
    idle_from: datetime | None = None  # charging stopped here; parking until stopped_at
    last_meter_at: datetime | None = None
    ended: bool = False
    status: SessionStatus = SessionStatus.ACTIVE
    flags: frozenset[SessionFlag] = frozenset()
    notes: tuple[tuple[SessionFlag, str], ...] = ()
    series: EnergySeries = field(default_factory=lambda: EnergySeries(EnergySource.NONE))
    currents: tuple[tuple[datetime, Decimal], ...] = ()


def _order(tx: TxInput) -> tuple[bool, int, datetime, datetime, str]:
    """2.x inputs by seqNo, 1.6 inputs (no seqNo) by the charger's timestamp; then the first received
    copy (so a later duplicate never displaces it), then event_id."""
    return (tx.seq_no is None, tx.seq_no or 0, tx.timestamp, tx.received_at, tx.event_id)


def _skew_notes(ordered: list[TxInput], limit: timedelta) -> list[str]:
    """A charger time ahead of the CSMS is always wrong; one behind it only when the input carries its own
    send time (not a 1.6 MeterValues, whose timestamps are sample times) and is not flagged offline."""
    notes = []
    for tx in ordered:
        ahead = max([tx.timestamp, *(r.timestamp for r in tx.readings)]) - tx.received_at
        behind = tx.received_at - tx.timestamp
        sent_late = not tx.offline and not (isinstance(tx, TxMeter) and tx.seq_no is None)
        if ahead > limit:
            notes.append(f"charger clock {ahead} ahead of the CSMS in {tx.event_id}")
        elif behind > limit and sent_late:
            notes.append(f"charger clock {behind} behind the CSMS in {tx.event_id}")
    return notes


def _anchor(tx: TxStarted | TxEnded | None, context: str) -> list[MeterReading]:
    """1.6 meterStart/meterStop are readings of the energy register in Wh at the transaction's bounds."""
    value = tx.meter_start_wh if isinstance(tx, TxStarted) else tx.meter_stop_wh if tx else None
    return [] if tx is None or value is None else [MeterReading(tx.timestamp, REGISTER, value, "Wh", context=context)]


def _quality_notes(
    ordered: list[TxInput], start: TxStarted | None, end: TxEnded | None, started_at: datetime | None,
    series: EnergySeries, rejected: bool, policy: SessionPolicy,
) -> list[tuple[SessionFlag, str]]:
    """Every data-quality finding, as (flag, note), in a deterministic order."""
    charger = [tx for tx in ordered if not (isinstance(tx, TxEnded) and tx.synthetic)]
    real_ends = [tx for tx in charger if isinstance(tx, TxEnded)]
    notes = [(SessionFlag.CLOCK_SKEW, n) for n in _skew_notes(charger, policy.max_clock_skew)]
    regressions, surges = series_anomalies(series, policy.max_power_w, policy.power_slack_wh)
    notes += [(SessionFlag.METER_REGRESSION, n) for n in regressions]
    notes += [(SessionFlag.IMPOSSIBLE_POWER, n) for n in surges]
    if end is not None and started_at is not None and end.timestamp < started_at:
        notes.append((SessionFlag.STOP_BEFORE_START, f"stopped {end.timestamp} before {started_at}"))
    if end is not None and start is None:
        notes.append((SessionFlag.MISSING_START, "ended without a start"))
    if len({(e.timestamp, e.meter_stop_wh) for e in real_ends}) > 1:
        notes.append((SessionFlag.CONFLICTING_STOPS, f"{len(real_ends)} different stops"))
    if end is not None and series.source is EnergySource.NONE:
        notes.append((SessionFlag.NO_METER_DATA, "no energy reading at all"))
    if rejected and series.energy_wh > 0:
        notes.append((SessionFlag.UNAUTHORIZED_CHARGING, f"{series.energy_wh} Wh after a rejected token"))
    for closed in (tx for tx in ordered if isinstance(tx, TxEnded) and tx.synthetic):
        notes.append((SessionFlag.STALE_CLOSED, f"closed at {closed.received_at} with no stop"))
    return notes


def _status(flags: frozenset[SessionFlag], ended: bool, rejected: bool, energy_wh: Decimal) -> SessionStatus:
    if flags & DISPUTE_FLAGS:
        return SessionStatus.DISPUTED
    if flags:
        return SessionStatus.REVIEW
    if not ended:
        return SessionStatus.ACTIVE
    return SessionStatus.ABORTED if rejected and energy_wh == 0 else SessionStatus.COMPLETED


def derive_state(
    station_id: str, transaction_id: str, inputs: Iterable[TxInput], policy: SessionPolicy,
    external: Mapping[SessionFlag, str] | None = None,
) -> SessionState:
    """The session's state as a pure function of the set of its inputs (and of external flags)."""
    ordered = sorted(inputs, key=_order)
    start = next((tx for tx in ordered if isinstance(tx, TxStarted)), None)
    ends = sorted((tx for tx in ordered if isinstance(tx, TxEnded)), key=lambda tx: tx.synthetic)  # stable
    end = ends[0] if ends else None
    readings = [r for tx in ordered for r in tx.readings]
    readings += _anchor(start, "Transaction.Begin") + _anchor(end, "Transaction.End")
    stamps = [tx.timestamp for tx in ordered] + [r.timestamp for r in readings]
    started_at = start.timestamp if start else min(stamps, default=None)
    series = build_series(readings, started_at)
    rejected = any(tx.authorized is False for tx in ordered)
    notes = dict(external or {})
    for flag, note in _quality_notes(ordered, start, end, started_at, series, rejected, policy):
        notes.setdefault(flag, note)
    registered = series.source in (EnergySource.REGISTER, EnergySource.PHASE_SUM)
    states = [(tx.timestamp, tx.charging_state) for tx in ordered if tx.charging_state]
    preferred = ([start] if start else []) + ordered
    return SessionState(
        station_id=station_id, transaction_id=transaction_id,
        evse_id=next((tx.evse_id for tx in preferred if tx.evse_id is not None), None),
        connector_id=next((tx.connector_id for tx in preferred if tx.connector_id is not None), None),
        id_token=next((tx.id_token for tx in preferred if tx.id_token is not None), None),
        driver_id=next((tx.driver_id for tx in preferred if tx.driver_id is not None), None),
        started_at=started_at, start_received_at=start.received_at if start else None,
        stopped_at=end.timestamp if end else None, stop_received_at=end.received_at if end else None,
        meter_start_wh=series.baseline if registered else None,
        meter_stop_wh=series.last if registered and end else None,
        energy_wh=series.energy_wh, energy_source=series.source, stop_reason=end.stop_reason if end else None,
        idle_from=idle_from_states(states) if states else idle_from_meter(series, policy.idle_power_w),
        last_meter_at=series.points[-1][0] if series.points else None,
        ended=end is not None, flags=frozenset(notes), notes=tuple(sorted(notes.items())),
        status=_status(frozenset(notes), end is not None, rejected, series.energy_wh),
        series=series, currents=current_series(readings),
    )


def session_id_for(station_id: str, transaction_id: str) -> str:
    """The session's id: 2.x transaction ids are unique per station only."""
    return f"{station_id}:{transaction_id}"


class ChargingSession:
    """One charging transaction. Inputs go in through `apply`; domain events pile up in `events`."""

    def __init__(
        self, session_id: str, station_id: str, transaction_id: str, *, policy: SessionPolicy | None = None
    ) -> None:
        self.session_id = session_id
        self.policy = policy or SessionPolicy()
        self.tariff: TariffRef | None = None
        self.cost: CostBreakdown | None = None
        self.billable = False  # the verdict of the last SessionPriced
        self.events: list[DomainEvent] = []
        self.state = SessionState(station_id, transaction_id)
        self._inputs: dict[str, TxInput] = {}
        self._external: dict[SessionFlag, str] = {}
        from processors.billing.domain.facts import SessionFacts  # facts builds on this module

        self._facts = SessionFacts(station_id, transaction_id, self.policy)

    @classmethod
    def restore(
        cls, session_id: str, station_id: str, transaction_id: str, inputs: Iterable[TxInput], *,
        policy: SessionPolicy | None = None, external_flags: Mapping[SessionFlag, str] | None = None,
        tariff: TariffRef | None = None, cost: CostBreakdown | None = None, billable: bool = False,
    ) -> ChargingSession:
        """Rebuild a stored session from its inputs, without recording events."""
        session = cls(session_id, station_id, transaction_id, policy=policy)
        for tx in inputs:
            session._check(tx)
            if tx.event_id not in session._inputs:
                session._inputs[tx.event_id] = tx
                session._facts.add(tx)
        session._external = dict(external_flags or {})
        session.tariff, session.cost, session.billable = tariff, cost, billable
        session.state = session._derive()
        return session

    @property
    def inputs(self) -> tuple[TxInput, ...]:
        return tuple(sorted(self._inputs.values(), key=_order))

    @property
    def external_flags(self) -> Mapping[SessionFlag, str]:
        return dict(self._external)

    @property
    def status(self) -> SessionStatus:
        return self.state.status

    @property
    def last_received_at(self) -> datetime | None:
        """The CSMS's clock at the latest input (for closing stale sessions)."""
        return self._facts.max_received

    def _check(self, tx: TxInput) -> None:
        if (tx.station_id, tx.transaction_id) != (self.state.station_id, self.state.transaction_id):
            raise ForeignInput(f"{tx.event_id} is for {tx.station_id}:{tx.transaction_id}, not {self.session_id}")

    def apply(self, tx: TxInput) -> bool:
        """Take in one input; an event_id seen before changes nothing. True when the state changed."""
        return self.apply_many([tx])

    def apply_many(self, inputs: Iterable[TxInput]) -> bool:
        """Take in several inputs and derive the state once (the batch path): the same final state as
        applying them one by one; one SessionStarted/Ended/Updated set of events for the whole change."""
        fresh = False
        for tx in inputs:
            self._check(tx)
            if tx.event_id not in self._inputs:
                self._inputs[tx.event_id] = tx
                self._facts.add(tx)
                fresh = True
        return self._refresh() if fresh else False

    def flag(self, flag: SessionFlag, note: str) -> bool:
        """Raise a flag found outside the session's own inputs (e.g. an overlap on its connector)."""
        if flag in self._external:
            return False
        self._external[flag] = note
        return self._refresh()

    def close_stale(self, now: datetime, max_age: timedelta) -> bool:
        """End a session not heard from for `max_age`, at its last known meter, and mark it for review."""
        state = self.state
        last_seen = self._facts.max_received
        if state.ended or last_seen is None or now - last_seen < max_age:
            return False
        last = self._facts.max_timestamp or last_seen
        last = max(last, state.last_meter_at or last)
        return self.apply(TxEnded(
            event_id=f"{self.session_id}:stale-close", station_id=state.station_id,
            transaction_id=state.transaction_id, timestamp=last, received_at=now,
            stop_reason="StaleClosed", synthetic=True,
        ))

    def pin_tariff(self, ref: TariffRef) -> None:
        """Fix the tariff version effective at the start; later tariff versions never re-price it."""
        if self.tariff is not None and self.tariff != ref:
            raise TariffAlreadyPinned(f"{self.session_id} is priced with {self.tariff}, not {ref}")
        self.tariff = ref

    def record_cost(self, cost: CostBreakdown) -> bool:
        """Store a cost computed by `price_session`; records SessionPriced when the cost or the verdict
        (billable: ended and COMPLETED) changed."""
        self.pin_tariff(cost.tariff)
        billable = self.state.ended and self.status is SessionStatus.COMPLETED
        if (cost, billable) == (self.cost, self.billable):
            return False
        self.cost, self.billable = cost, billable
        self.events.append(SessionPriced(self.session_id, self.status, billable, cost))
        return True

    def _derive(self) -> SessionState:
        return self._facts.state(self._external)

    def _refresh(self) -> bool:
        before, self.state = self.state, self._derive()
        self.events += describe_change(self.session_id, before, self.state)
        return self.state != before


def flag_overlapping(sessions: Iterable[ChargingSession]) -> list[tuple[str, str]]:
    """Flag sessions that overlap in time on one connector (station + EVSE); returns the pairs."""
    by_connector: dict[tuple[str, int | None], list[ChargingSession]] = {}
    for session in sessions:
        if session.state.started_at is not None:
            by_connector.setdefault((session.state.station_id, session.state.evse_id), []).append(session)
    pairs = []
    for (station_id, evse_id), group in sorted(by_connector.items(), key=lambda item: str(item[0])):
        group.sort(key=lambda s: (s.state.started_at, s.session_id))
        for index, first in enumerate(group):
            first_end = first.state.stopped_at or _END_OF_TIME
            for second in group[index + 1:]:
                assert second.state.started_at is not None
                if second.state.started_at >= first_end:
                    break
                pairs.append((first.session_id, second.session_id))
                where = f"on {station_id} EVSE {evse_id}"
                first.flag(SessionFlag.OVERLAPPING_SESSION, f"overlaps {second.session_id} {where}")
                second.flag(SessionFlag.OVERLAPPING_SESSION, f"overlaps {first.session_id} {where}")
    return pairs

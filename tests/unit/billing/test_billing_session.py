"""The ChargingSession aggregate: state, recorded events, idempotency and every data-quality flag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from processors.billing.domain import (
    ChargingSession,
    EnergySource,
    ForeignInput,
    MeterReading,
    SessionEnded,
    SessionFlag,
    SessionFlagged,
    SessionPolicy,
    SessionStarted,
    SessionStatus,
    SessionUpdated,
    TariffAlreadyPinned,
    TariffRef,
    TxEnded,
    TxMeter,
    TxStarted,
    flag_overlapping,
    from_v2_transaction_event,
)
from processors.billing.domain.meter import CURRENT, INTERVAL, REGISTER

T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def start(minute: float = 0, meter: int = 1000, *, event_id: str = "start", tx: str = "1", evse: int = 1,
          **extra: Any) -> TxStarted:
    return TxStarted(event_id=event_id, station_id="CS1", transaction_id=tx, timestamp=at(minute),
                     received_at=at(minute), evse_id=evse, connector_id=evse, id_token="TAG",
                     meter_start_wh=Decimal(meter),
                     authorized=extra.pop("authorized", True), **extra)


def register(minute: float, wh: int | str, **extra: Any) -> MeterReading:
    return MeterReading(at(minute), REGISTER, Decimal(wh), "Wh", **extra)


def meter(minute: float, *readings: MeterReading, event_id: str | None = None, tx: str = "1", **extra: Any) -> TxMeter:
    received = extra.pop("received_at", at(minute))
    return TxMeter(event_id=event_id or f"m{minute}", station_id="CS1", transaction_id=tx, timestamp=at(minute),
                   received_at=received, readings=readings, **extra)


def stop(minute: float, meter_wh: int | None = 5000, *, event_id: str = "stop", tx: str = "1", **extra: Any) -> TxEnded:
    return TxEnded(event_id=event_id, station_id="CS1", transaction_id=tx, timestamp=at(minute),
                   received_at=extra.pop("received_at", at(minute)),
                   meter_stop_wh=None if meter_wh is None else Decimal(meter_wh),
                   stop_reason=extra.pop("stop_reason", "EVDisconnected"), **extra)


def session(*inputs: Any, tx: str = "1", policy: SessionPolicy | None = None) -> ChargingSession:
    s = ChargingSession(f"CS1:{tx}", "CS1", tx, policy=policy)
    for item in inputs:
        s.apply(item)
    return s


def test_a_clean_v16_session() -> None:
    s = session(start(), meter(30, register(30, 3000)), stop(60))
    state = s.state
    assert state.status is SessionStatus.COMPLETED
    assert (state.started_at, state.stopped_at, state.stop_reason) == (at(0), at(60), "EVDisconnected")
    assert (state.meter_start_wh, state.meter_stop_wh, state.energy_wh) == (Decimal(1000), Decimal(5000), Decimal(4000))
    assert state.energy_source is EnergySource.REGISTER
    assert (state.evse_id, state.connector_id, state.id_token) == (1, 1, "TAG")
    assert state.flags == frozenset()
    assert [type(e) for e in s.events] == [SessionStarted, SessionUpdated, SessionEnded]


def test_the_same_event_id_twice_changes_nothing() -> None:
    s = session(start(), meter(30, register(30, 3000)))
    before, events = s.state, list(s.events)
    assert s.apply(meter(30, register(30, 3000))) is False
    assert s.apply(start()) is False
    assert (s.state, s.events) == (before, events)


def test_a_duplicate_stop_with_another_event_id_changes_nothing() -> None:
    # Real simulators send StopTransaction / TransactionEvent Ended twice on shutdown.
    s = session(start(), stop(60))
    before, events = s.state, list(s.events)
    assert s.apply(stop(60, event_id="stop-again", received_at=at(60.1))) is False
    assert (s.state, s.events) == (before, events)


def test_events_are_recorded_in_the_aggregate() -> None:
    s = session(start())
    (started,) = s.events
    assert isinstance(started, SessionStarted)
    assert (started.session_id, started.meter_start_wh, started.started_at) == ("CS1:1", Decimal(1000), at(0))


def test_an_input_of_another_transaction_is_refused() -> None:
    with pytest.raises(ForeignInput):
        session(start(), start(tx="2", event_id="other"))


def test_a_late_start_still_yields_the_same_state() -> None:
    in_order = session(start(), meter(30, register(30, 3000)), stop(60))
    reversed_ = session(stop(60), meter(30, register(30, 3000)), start())
    assert in_order.state == reversed_.state


def test_meter_regression_is_disputed() -> None:
    s = session(start(), meter(20, register(20, 3000)), meter(40, register(40, 2500)), stop(60))
    assert s.status is SessionStatus.DISPUTED
    assert SessionFlag.METER_REGRESSION in s.state.flags
    flagged = [e for e in s.events if isinstance(e, SessionFlagged)]
    assert [e.flag for e in flagged] == [SessionFlag.METER_REGRESSION]
    assert "3000" in flagged[0].note
    assert "2500" in flagged[0].note


def test_stop_meter_below_start_meter_is_a_regression() -> None:
    assert session(start(meter=5000), stop(60, 4000)).status is SessionStatus.DISPUTED


def test_impossible_power_is_disputed() -> None:
    # 100 kWh in 10 minutes is 600 kW, above the 400 kW default.
    s = session(start(), stop(10, 101_000))
    assert s.state.flags == {SessionFlag.IMPOSSIBLE_POWER}
    assert s.status is SessionStatus.DISPUTED


def test_the_power_limit_is_configurable() -> None:
    policy = SessionPolicy(max_power_w=Decimal(700_000))
    assert session(start(), stop(10, 101_000), policy=policy).status is SessionStatus.COMPLETED


def test_charger_clock_ahead_of_the_csms_is_flagged_for_review() -> None:
    s = session(start(), stop(60, received_at=at(50)))
    assert s.state.flags == {SessionFlag.CLOCK_SKEW}
    assert s.status is SessionStatus.REVIEW


def test_charger_clock_behind_is_flagged_unless_the_event_says_it_was_offline() -> None:
    late = session(start(), stop(60, received_at=at(120)))
    assert late.state.flags == {SessionFlag.CLOCK_SKEW}
    offline = session(start(), stop(60, received_at=at(120), offline=True))
    assert offline.status is SessionStatus.COMPLETED


def test_late_1_6_meter_values_are_buffered_samples_not_skew() -> None:
    s = session(start(), meter(10, register(10, 2000), received_at=at(40)))
    assert s.state.flags == frozenset()


def test_a_sample_timestamped_in_the_future_is_clock_skew() -> None:
    s = session(start(), meter(10, register(30, 2000), received_at=at(10)))
    assert SessionFlag.CLOCK_SKEW in s.state.flags


def test_stop_before_start_is_disputed() -> None:
    s = session(start(60, meter=1000), stop(30, 1000))
    assert SessionFlag.STOP_BEFORE_START in s.state.flags
    assert s.status is SessionStatus.DISPUTED


def test_a_session_ended_without_start_is_flagged_until_the_start_arrives() -> None:
    s = session(meter(30, register(30, 3000)), stop(60))
    assert s.state.flags == {SessionFlag.MISSING_START}
    assert s.state.started_at == at(30)
    s.apply(start())
    assert s.state.flags == frozenset()
    assert s.status is SessionStatus.COMPLETED


def test_stops_that_disagree_are_flagged_and_the_first_one_wins() -> None:
    s = session(start(), stop(60, 5000), stop(61, 5100, event_id="stop-2"))
    assert s.state.flags == {SessionFlag.CONFLICTING_STOPS}
    assert (s.state.stopped_at, s.state.meter_stop_wh) == (at(60), Decimal(5000))


def test_v2_session_without_any_energy_reading_is_reviewed() -> None:
    ended = TxEnded(event_id="end", station_id="CS1", transaction_id="1", timestamp=at(60), received_at=at(60),
                    seq_no=1)
    begun = TxStarted(event_id="s", station_id="CS1", transaction_id="1", timestamp=at(0), received_at=at(0), seq_no=0)
    s = session(begun, ended)
    assert s.state.flags == {SessionFlag.NO_METER_DATA}


def test_charging_after_a_rejected_token_is_reviewed_and_a_rejected_empty_session_is_aborted() -> None:
    assert session(start(authorized=False), stop(60)).state.flags == {SessionFlag.UNAUTHORIZED_CHARGING}
    assert session(start(authorized=False), stop(1, 1000)).status is SessionStatus.ABORTED


def test_close_stale_ends_at_the_last_known_meter_for_review() -> None:
    s = session(start(), meter(30, register(30, 3000)))
    assert s.close_stale(at(60), timedelta(hours=2)) is False
    assert s.close_stale(at(200), timedelta(hours=2)) is True
    state = s.state
    assert state.ended
    assert (state.stopped_at, state.meter_stop_wh, state.energy_wh) == (at(30), Decimal(3000), Decimal(2000))
    assert state.flags == {SessionFlag.STALE_CLOSED}
    assert state.status is SessionStatus.REVIEW
    assert isinstance(s.events[-2], SessionEnded)
    assert isinstance(s.events[-1], SessionFlagged)
    assert s.close_stale(at(400), timedelta(hours=2)) is False


def test_a_real_stop_after_a_stale_close_wins_but_stays_in_review() -> None:
    s = session(start(), meter(30, register(30, 3000)))
    s.close_stale(at(300), timedelta(hours=2))
    s.apply(stop(90, 4000, received_at=at(90), offline=True))
    assert (s.state.stopped_at, s.state.meter_stop_wh) == (at(90), Decimal(4000))
    assert s.status is SessionStatus.REVIEW


def test_overlapping_sessions_on_one_connector_are_flagged() -> None:
    first = session(start(), stop(60))
    second = session(start(30, 5000, tx="2"), stop(90, 6000, tx="2"), tx="2")
    elsewhere = session(start(30, 5000, tx="3", evse=2), tx="3")
    later = session(start(60, 5000, tx="4"), tx="4")
    pairs = flag_overlapping([later, second, elsewhere, first])
    assert pairs == [("CS1:1", "CS1:2"), ("CS1:2", "CS1:4")]
    assert first.state.flags == {SessionFlag.OVERLAPPING_SESSION}
    assert elsewhere.state.flags == frozenset()
    assert first.status is SessionStatus.REVIEW


def test_a_session_without_stop_overlaps_every_later_one() -> None:
    open_ended = session(start())
    nxt = session(start(600, tx="2"), tx="2")
    assert flag_overlapping([open_ended, nxt]) == [("CS1:1", "CS1:2")]


def test_energy_falls_back_to_the_sum_of_phases() -> None:
    begun = TxStarted(event_id="s", station_id="CS1", transaction_id="1", timestamp=at(0), received_at=at(0), seq_no=0)
    phases = [register(m, v + i, phase=p) for m, v in ((0, 100), (60, 2100)) for i, p in enumerate(("L1", "L2", "L3"))]
    s = session(begun, meter(60, *phases, seq_no=1))
    assert s.state.energy_source is EnergySource.PHASE_SUM
    assert s.state.energy_wh == Decimal(6000)


def test_energy_falls_back_to_the_sum_of_intervals() -> None:
    begun = TxStarted(event_id="s", station_id="CS1", transaction_id="1", timestamp=at(0), received_at=at(0), seq_no=0)
    intervals = [MeterReading(at(m), INTERVAL, Decimal(500), "Wh") for m in (15, 30, 45)]
    s = session(begun, meter(45, *intervals, seq_no=1), meter(45, *intervals[1:], seq_no=2, event_id="again"))
    assert s.state.energy_source is EnergySource.INTERVAL_SUM
    assert s.state.energy_wh == Decimal(1500)  # a repeated interval sample is counted once
    assert s.state.series.points[0] == (at(0), Decimal(0))


def test_the_register_wins_over_phases_and_intervals() -> None:
    s = session(start(), meter(30, register(30, 2000), register(30, 900, phase="L1"),
                               MeterReading(at(30), INTERVAL, Decimal(7), "Wh")), stop(60))
    assert s.state.energy_source is EnergySource.REGISTER


def test_the_ev_side_meter_is_never_billed() -> None:
    s = session(start(), meter(30, register(30, 999_999, location="EV")), stop(60))
    assert s.state.energy_wh == Decimal(4000)


def test_1_6_idle_tail_becomes_parking() -> None:
    s = session(start(), meter(30, register(30, 5000)), meter(45, register(45, 5000)), stop(60))
    assert s.state.idle_from == at(30)


def test_2_x_charging_states_give_parking() -> None:
    def event(kind: str, seq: int, minute: int, state: str) -> dict[str, Any]:
        return {"eventType": kind, "timestamp": at(minute).isoformat(), "triggerReason": "ChargingStateChanged",
                "seqNo": seq, "transactionInfo": {"transactionId": "1", "chargingState": state}}

    s = ChargingSession("CS1:1", "CS1", "1")
    for seq, (kind, minute, state) in enumerate([("Started", 0, "EVConnected"), ("Updated", 1, "Charging"),
                                                 ("Updated", 40, "SuspendedEV"), ("Ended", 60, "EVConnected")]):
        s.apply(from_v2_transaction_event(event(kind, seq, minute, state), event_id=f"e{seq}", station_id="CS1",
                                          received_at=at(minute)))
    assert s.state.idle_from == at(40)


def test_currents_are_summed_over_phases() -> None:
    currents = [MeterReading(at(10), CURRENT, Decimal(16), "A", phase=p) for p in ("L1", "L2", "L3")]
    assert session(start(), meter(10, *currents)).state.currents == ((at(10), Decimal(48)),)


def test_tariff_version_is_pinned_once() -> None:
    s = session(start())
    s.pin_tariff(TariffRef("T", 1))
    s.pin_tariff(TariffRef("T", 1))
    with pytest.raises(TariffAlreadyPinned):
        s.pin_tariff(TariffRef("T", 2))


def test_restore_rebuilds_the_same_state_without_events() -> None:
    s = session(start(), meter(30, register(30, 3000)), stop(60))
    s.flag(SessionFlag.OVERLAPPING_SESSION, "overlaps X")
    again = ChargingSession.restore("CS1:1", "CS1", "1", s.inputs, external_flags=s.external_flags)
    assert again.state == s.state
    assert again.events == []


def test_v2_offline_events_arriving_after_ended_are_merged_by_seq_no() -> None:
    # OCPP 2.0.1 E01.FR.07 / TC_E_53: seqNo may restart at 0 for each transaction; offline (true) events
    # arrive late and out of order. The session is the same whatever the arrival order.
    def event(kind: str, seq: int, minute: int, wh: int, offline: bool = False) -> dict[str, Any]:
        return {"eventType": kind, "timestamp": at(minute).isoformat(), "triggerReason": "MeterValuePeriodic",
                "seqNo": seq, "offline": offline, "transactionInfo": {"transactionId": "1"},
                "evse": {"id": 1, "connectorId": 1},
                "meterValue": [{"timestamp": at(minute).isoformat(), "sampledValue": [{"value": wh}]}]}

    payloads = [event("Started", 0, 0, 100), event("Updated", 1, 20, 2100, offline=True),
                event("Updated", 2, 40, 4100, offline=True), event("Ended", 3, 60, 6100)]
    arrival = [payloads[0], payloads[3], payloads[2], payloads[1], payloads[3]]
    received = [at(0), at(61), at(62), at(63), at(64)]
    s = ChargingSession("CS1:1", "CS1", "1")
    for index, (payload, when) in enumerate(zip(arrival, received, strict=True)):
        s.apply(from_v2_transaction_event(payload, event_id=f"e{index}", station_id="CS1", received_at=when))
    assert s.state.energy_wh == Decimal(6000)
    assert s.state.status is SessionStatus.COMPLETED
    assert [p[1] for p in s.state.series.points] == [Decimal(100), Decimal(2100), Decimal(4100), Decimal(6100)]
    assert [type(e) for e in s.events] == [SessionStarted, SessionEnded, SessionUpdated, SessionUpdated]

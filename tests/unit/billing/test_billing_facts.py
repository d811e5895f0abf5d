"""The incremental SessionFacts (what ChargingSession runs on) equals the reference `derive_state`, for any set
of inputs: phases, intervals, several meter locations, 1.6 anchors, 2.x charging states, stale closes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors.billing.domain import (
    ChargingSession,
    MeterReading,
    SessionEnded,
    SessionPolicy,
    SessionStarted,
    TxEnded,
    TxInput,
    TxMeter,
    TxStarted,
    derive_state,
)
from processors.billing.domain.meter import CURRENT, INTERVAL, REGISTER

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
POLICY = SessionPolicy()


@st.composite
def readings(draw: st.DrawFn) -> tuple[MeterReading, ...]:
    out = []
    for _ in range(draw(st.integers(0, 4))):
        out.append(MeterReading(
            T0 + timedelta(minutes=draw(st.integers(0, 40))),
            draw(st.sampled_from([REGISTER, REGISTER, REGISTER, INTERVAL, CURRENT])),
            Decimal(draw(st.integers(0, 30_000))), "Wh",
            phase=draw(st.sampled_from([None, None, "L1", "L2-N", "L3"])),
            location=draw(st.sampled_from(["Outlet", "Outlet", "Cable", "EV", "Inlet"])),
        ))
    return tuple(out)


@st.composite
def inputs(draw: st.DrawFn) -> list[TxInput]:
    v2 = draw(st.booleans())
    out: list[TxInput] = []
    for i in range(draw(st.integers(1, 9))):
        kind = draw(st.sampled_from(["start", "meter", "meter", "meter", "end", "stale"]))
        stamp = T0 + timedelta(minutes=draw(st.integers(0, 40)))
        common: dict[str, Any] = {
            "event_id": f"e{i}", "station_id": "CS", "transaction_id": "tx", "timestamp": stamp,
            "received_at": stamp + timedelta(seconds=draw(st.integers(-600, 600))),
            "seq_no": draw(st.integers(0, 5)) if v2 else None, "offline": draw(st.booleans()) if v2 else False,
            "evse_id": draw(st.sampled_from([None, 1, 2])), "id_token": draw(st.sampled_from([None, "A", "B"])),
            "authorized": draw(st.sampled_from([None, True, False])),
            "charging_state": draw(st.sampled_from([None, "Charging", "SuspendedEV", "EVConnected"])) if v2 else None,
            "readings": draw(readings()),
        }
        meter = None if v2 else Decimal(draw(st.integers(0, 30_000)))
        if kind == "start":
            out.append(TxStarted(**common, meter_start_wh=meter))
        elif kind == "meter":
            out.append(TxMeter(**common))
        else:
            out.append(TxEnded(**common, meter_stop_wh=meter, stop_reason="Local", synthetic=kind == "stale"))
    return out


@SETTINGS
@given(txs=inputs(), data=st.data())
def test_the_incremental_state_equals_the_reference_derivation(txs: list[TxInput], data: st.DataObject) -> None:
    session = ChargingSession("CS:tx", "CS", "tx", policy=POLICY)
    for tx in data.draw(st.permutations(txs)):
        session.apply(tx)
        seen = list(session.inputs)
        assert session.state == derive_state("CS", "tx", seen, POLICY)


@SETTINGS
@given(txs=inputs(), data=st.data())
def test_applying_in_batches_gives_the_state_of_applying_one_by_one(txs: list[TxInput], data: st.DataObject) -> None:
    one_by_one = ChargingSession("CS:tx", "CS", "tx")
    for tx in txs:
        one_by_one.apply(tx)
    batched = ChargingSession("CS:tx", "CS", "tx")
    shuffled = data.draw(st.permutations(txs))
    cut = data.draw(st.integers(0, len(shuffled)))
    batched.apply_many(shuffled[:cut])
    batched.apply_many(shuffled[cut:])
    assert batched.state == one_by_one.state
    assert batched.apply_many(txs) is False


def test_a_batch_that_starts_and_ends_a_session_records_both() -> None:
    start = TxStarted(event_id="s", station_id="CS", transaction_id="tx", timestamp=T0, received_at=T0,
                      meter_start_wh=Decimal(10))
    end = TxEnded(event_id="e", station_id="CS", transaction_id="tx", timestamp=T0 + timedelta(hours=1),
                  received_at=T0 + timedelta(hours=1), meter_stop_wh=Decimal(5000))
    session = ChargingSession("CS:tx", "CS", "tx")
    assert session.apply_many([start, end])
    assert [type(e) for e in session.events] == [SessionStarted, SessionEnded]


def test_a_long_session_stays_cheap_to_extend() -> None:
    """Adding one meter input to a 2,000-reading session is O(log n), not a full re-derivation."""
    session = ChargingSession("CS:tx", "CS", "tx")
    session.apply(TxStarted(event_id="s", station_id="CS", transaction_id="tx", timestamp=T0, received_at=T0,
                            meter_start_wh=Decimal(0)))
    batch = []
    for i in range(1, 2001):
        at = T0 + timedelta(seconds=30 * i)
        batch.append(TxMeter(event_id=f"m{i}", station_id="CS", transaction_id="tx", timestamp=at, received_at=at,
                             readings=(MeterReading(at, REGISTER, Decimal(i * 50), "Wh"),)))
    session.apply_many(batch)
    timings = []
    for i in range(2001, 2021):  # the fastest of 20 (a GC pause or a busy CPU is not the code's cost)
        at = T0 + timedelta(seconds=30 * i)
        tx = TxMeter(event_id=f"m{i}", station_id="CS", transaction_id="tx", timestamp=at, received_at=at,
                     readings=(MeterReading(at, REGISTER, Decimal(i * 50), "Wh"),))
        started = time.perf_counter()
        session.apply(tx)
        timings.append(time.perf_counter() - started)
    assert session.state.energy_wh == Decimal(2020 * 50)
    assert min(timings) < 0.002, f"{min(timings) * 1000:.2f} ms for one input"

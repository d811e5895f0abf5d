"""SessionFacts' fast path for a sample later than every other (appended to the sorted stream, its point list
extended instead of rebuilt) gives the state `derive_state` gives, also when late samples, equal timestamps,
1.6 meterStart/meterStop anchors and regressions are mixed in."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from processors.billing.domain import ChargingSession, MeterReading, TxEnded, TxInput, TxMeter, TxStarted, derive_state
from processors.billing.domain.meter import CURRENT, REGISTER
from tests.unit.billing.test_billing_facts import POLICY, SETTINGS, T0


@st.composite
def mostly_appended(draw: st.DrawFn) -> list[TxInput]:
    out: list[TxInput] = [TxStarted(event_id="start", station_id="CS", transaction_id="tx", timestamp=T0,
                                    received_at=T0, meter_start_wh=Decimal(draw(st.integers(0, 100))))]
    minute, value = 0, 0
    for i in range(draw(st.integers(1, 25))):
        late = draw(st.integers(0, 9)) == 0  # now and then a sample from the past (or at an existing time)
        if late:
            at, reading = max(0, minute - draw(st.integers(0, 5))), Decimal(draw(st.integers(0, value + 50)))
        else:
            minute += draw(st.integers(1, 3))
            value += draw(st.integers(-50, 3000))  # a regression now and then
            at, reading = minute, Decimal(max(value, 0))
        stamp = T0 + timedelta(minutes=at)
        readings = [MeterReading(stamp, REGISTER, reading, "Wh")]
        if draw(st.booleans()):
            readings.append(MeterReading(stamp, CURRENT, Decimal(draw(st.integers(0, 32))), "A"))
        out.append(TxMeter(event_id=f"m{i}", station_id="CS", transaction_id="tx", timestamp=stamp,
                           received_at=stamp, readings=tuple(readings)))
    if draw(st.booleans()):
        stop = T0 + timedelta(minutes=draw(st.integers(0, minute + 3)))
        out.insert(draw(st.integers(1, len(out))), TxEnded(
            event_id="stop", station_id="CS", transaction_id="tx", timestamp=stop, received_at=stop,
            meter_stop_wh=Decimal(draw(st.integers(0, value + 100))), stop_reason="Local"))
    return out


@SETTINGS
@given(txs=mostly_appended())
def test_appended_samples_give_the_reference_state(txs: list[TxInput]) -> None:
    session = ChargingSession("CS:tx", "CS", "tx", policy=POLICY)
    for count, tx in enumerate(txs, start=1):
        session.apply(tx)
        assert session.state == derive_state("CS", "tx", txs[:count], POLICY)

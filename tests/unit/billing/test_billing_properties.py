"""Property tests: order independence, idempotency and the arithmetic invariants of a cost."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors.billing.domain import (
    ChargingSession,
    CostBreakdown,
    Dimension,
    MeterReading,
    PriceComponent,
    SessionFlag,
    Tariff,
    TariffElement,
    TariffRestrictions,
    TxEnded,
    TxInput,
    TxMeter,
    TxStarted,
    minor_unit,
    price_session,
    split_periods,
)
from processors.billing.domain.meter import CURRENT, REGISTER

T0 = datetime(2024, 3, 30, 20, 0, tzinfo=UTC)  # the night before the spring DST change in Europe
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass
class Script:
    inputs: list[TxInput]
    v2: bool


@st.composite
def scripts(draw: st.DrawFn, monotone: bool = False) -> Script:
    """The inputs of one session, 1.6 or 2.x, with optional stop, duplicate stop, skew and meter glitches."""
    v2 = draw(st.booleans())
    gaps = draw(st.lists(st.integers(1, 180), min_size=0, max_size=7))
    steps = draw(st.lists(st.integers(0 if monotone else -300, 25_000), min_size=len(gaps), max_size=len(gaps)))
    skews = draw(st.lists(st.integers(-900, 900), min_size=len(gaps) + 2, max_size=len(gaps) + 2))
    states = draw(st.lists(st.sampled_from([None, "Charging", "SuspendedEV", "EVConnected"]),
                           min_size=len(gaps) + 2, max_size=len(gaps) + 2)) if v2 else [None] * (len(gaps) + 2)
    begin = T0 + timedelta(minutes=draw(st.integers(0, 600)))
    value, minute, points = Decimal(draw(st.integers(0, 10**7))), 0, []
    for gap, step in zip(gaps, steps, strict=True):
        minute, value = minute + gap, value + step
        points.append((begin + timedelta(minutes=minute), value))
    end_at = begin + timedelta(minutes=minute + draw(st.integers(0, 90)))
    first = points[0][1] - steps[0] if points else value
    common: dict[str, Any] = {"station_id": "CS", "transaction_id": "tx"}

    def seq(i: int) -> int | None:
        return i if v2 else None

    inputs: list[TxInput] = [TxStarted(
        event_id="start", timestamp=begin, received_at=begin + timedelta(seconds=skews[0]), seq_no=seq(0),
        evse_id=1, id_token="TAG", charging_state=states[0],
        meter_start_wh=None if v2 else first,
        readings=(MeterReading(begin, REGISTER, first, "Wh", context="Transaction.Begin"),) if v2 else (),
        **common)]
    for i, (stamp, wh) in enumerate(points, start=1):
        readings = [MeterReading(stamp, REGISTER, wh, "Wh"), MeterReading(stamp, CURRENT, Decimal(16 * i), "A")]
        inputs.append(TxMeter(event_id=f"m{i}", timestamp=stamp, received_at=stamp + timedelta(seconds=skews[i]),
                              seq_no=seq(i), charging_state=states[i], readings=tuple(readings), **common))
    if draw(st.booleans()):
        last = len(points) + 1
        ended = TxEnded(event_id="stop", timestamp=end_at, received_at=end_at + timedelta(seconds=skews[last]),
                        seq_no=seq(last), meter_stop_wh=None if v2 else value, stop_reason="Local",
                        charging_state=states[last],
                        readings=(MeterReading(end_at, REGISTER, value, "Wh"),) if v2 else (), **common)
        inputs.append(ended)
        if draw(st.booleans()):  # the simulator sends the stop twice
            inputs.append(TxEnded(**{**ended.__dict__, "event_id": "stop-again",
                                     "received_at": ended.received_at + timedelta(seconds=3)}))
    return Script(inputs, v2)


def tariff(night_start: int = 22, night_end: int = 6, step: int = 1) -> Tariff:
    night = TariffRestrictions(start_time=time(night_start), end_time=time(night_end))
    return Tariff(
        id="T", version=1, currency="EUR", vat_percent=Decimal(19), time_zone="Europe/Berlin",
        membership_discounts={"GOLD": Decimal("12.5")},
        elements=(
            TariffElement((PriceComponent(Dimension.FLAT, Decimal("0.35")),)),
            TariffElement((PriceComponent(Dimension.ENERGY, Decimal("0.1937"), step),
                           PriceComponent(Dimension.PARKING_TIME, Decimal("0.00"), 60)), night),
            TariffElement((PriceComponent(Dimension.TIME, Decimal("1.20"), 300),),
                          TariffRestrictions(min_current=Decimal(40))),
            TariffElement((PriceComponent(Dimension.ENERGY, Decimal("0.4411"), step),
                           PriceComponent(Dimension.PARKING_TIME, Decimal("6.00"), 900))),
        ))


def replay(inputs: list[TxInput]) -> ChargingSession:
    session = ChargingSession("CS:tx", "CS", "tx")
    for tx in inputs:
        session.apply(tx)
    return session


def interleavings(data: st.DataObject, inputs: list[TxInput]) -> list[TxInput]:
    """A permutation of the inputs with some of them replayed, possibly many times."""
    shuffled = data.draw(st.permutations(inputs))
    replays = data.draw(st.lists(st.sampled_from(inputs), max_size=6))
    return data.draw(st.permutations(list(shuffled) + replays))


@SETTINGS
@given(script=scripts(), data=st.data())
def test_any_permutation_duplication_or_replay_gives_the_same_session_and_cost(
    script: Script, data: st.DataObject
) -> None:
    reference = replay(script.inputs)
    other = replay(interleavings(data, script.inputs))
    assert other.state == reference.state
    assert price_session(other, tariff(), membership_level="GOLD") == price_session(
        reference, tariff(), membership_level="GOLD")


@SETTINGS
@given(script=scripts(), data=st.data())
def test_replaying_all_inputs_again_changes_nothing(script: Script, data: st.DataObject) -> None:
    session = replay(script.inputs)
    state, events = session.state, list(session.events)
    for tx in data.draw(st.permutations(script.inputs)):
        assert session.apply(tx) is False
    assert (session.state, session.events) == (state, events)


@SETTINGS
@given(script=scripts(), now=st.integers(0, 24 * 60), level=st.sampled_from([None, "GOLD"]))
def test_a_cost_adds_up_and_every_amount_has_the_currency_exponent(script: Script, now: int,
                                                                    level: str | None) -> None:
    cost = price_session(replay(script.inputs), tariff(), membership_level=level, until=T0 + timedelta(minutes=now))
    assert_consistent(cost)


def assert_consistent(cost: CostBreakdown) -> None:
    exponent = -minor_unit(cost.currency)
    money = [c.amount for c in cost.components] + [cost.subtotal, cost.discount, cost.total_excl_vat, cost.vat,
                                                    cost.total_incl_vat]
    assert all(type(m) is Decimal and m.as_tuple().exponent == exponent for m in money)
    assert all(type(c.quantity) is Decimal and type(c.unit_price) is Decimal for c in cost.components)
    assert sum((c.amount for c in cost.components), Decimal(0)) == cost.subtotal
    assert cost.subtotal - cost.discount == cost.total_excl_vat
    expected_vat = (cost.total_excl_vat * cost.vat_percent / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert cost.vat == expected_vat
    assert cost.total_excl_vat + cost.vat == cost.total_incl_vat
    assert all(c.amount >= 0 for c in cost.components)


@SETTINGS
@given(script=scripts(monotone=True), night_start=st.integers(0, 23), night_end=st.integers(0, 23))
def test_the_time_of_day_split_adds_up_to_the_session_energy(script: Script, night_start: int, night_end: int) -> None:
    session = replay(script.inputs)
    periods = split_periods(session, tariff(night_start, night_end))
    if session.state.started_at is not None:
        assert sum((p.energy_wh for p in periods), Decimal(0)) == session.state.energy_wh
        assert all(p.start <= p.end for p in periods)
        assert all(a.end == b.start for a, b in itertools.pairwise(periods))


@SETTINGS
@given(script=scripts(monotone=True))
def test_with_step_size_1_the_billed_energy_is_the_measured_energy_rounded_up(script: Script) -> None:
    session = replay(script.inputs)
    cost = price_session(session, tariff())
    billed = sum((c.quantity for c in cost.components if c.dimension is Dimension.ENERGY), Decimal(0))
    measured = session.state.energy_wh
    assert measured <= billed < measured + 1


@SETTINGS
@given(script=scripts(monotone=True), step=st.integers(1, 5000))
def test_the_billed_quantity_of_a_dimension_is_a_multiple_of_the_last_step(script: Script, step: int) -> None:
    cost = price_session(replay(script.inputs), tariff(step=step))
    billed = sum((c.quantity for c in cost.components if c.dimension is Dimension.ENERGY), Decimal(0))
    assert billed % step == 0


@SETTINGS
@given(script=scripts())
def test_sessions_with_a_glitching_meter_are_never_completed(script: Script) -> None:
    state = replay(script.inputs).state
    if state.flags & {SessionFlag.METER_REGRESSION, SessionFlag.IMPOSSIBLE_POWER}:
        assert state.status.value == "DISPUTED"

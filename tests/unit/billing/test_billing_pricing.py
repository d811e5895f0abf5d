"""Pricing: the OCPI 2.2.1 worked examples, time-of-day splits, step sizes, rounding, VAT, caps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from processors.billing.domain import (
    BudgetCaps,
    Cap,
    ChargingSession,
    Dimension,
    MeterReading,
    PriceComponent,
    SessionPriced,
    Tariff,
    TariffAlreadyPinned,
    TariffElement,
    TariffRestrictions,
    TxEnded,
    TxMeter,
    TxStarted,
    bill_session,
    cap_reached,
    price_session,
    price_so_far,
    split_periods,
    tariff_from_ocpi,
)
from processors.billing.domain.meter import CURRENT, REGISTER

BERLIN = ZoneInfo("Europe/Berlin")


def charge(start: datetime, samples: list[tuple[float, int | str]], stop_after: float | None,
           currents: tuple[tuple[float, int], ...] = ()) -> ChargingSession:
    """A 1.6-style session: meterStart = first sample, register samples, meterStop = last sample."""
    def at(minutes: float) -> datetime:
        return start + timedelta(minutes=minutes)

    session = ChargingSession("CS:1", "CS", "1")
    session.apply(TxStarted(event_id="start", station_id="CS", transaction_id="1", timestamp=start,
                            received_at=start, evse_id=1, meter_start_wh=Decimal(samples[0][1])))
    readings = [MeterReading(at(m), REGISTER, Decimal(wh), "Wh") for m, wh in samples[1:]]
    readings += [MeterReading(at(m), CURRENT, Decimal(a), "A") for m, a in currents]
    for index, reading in enumerate(readings):
        session.apply(TxMeter(event_id=f"m{index}", station_id="CS", transaction_id="1",
                              timestamp=reading.timestamp, received_at=reading.timestamp, readings=(reading,)))
    if stop_after is not None:
        session.apply(TxEnded(event_id="stop", station_id="CS", transaction_id="1", timestamp=at(stop_after),
                              received_at=at(stop_after), meter_stop_wh=Decimal(samples[-1][1])))
    return session


def simple(*components: PriceComponent, vat: str = "0", currency: str = "EUR", **extra: Any) -> Tariff:
    return Tariff(id="T", version=1, currency=currency, elements=(TariffElement(components),),
                  vat_percent=Decimal(vat), **extra)


def energy(price: str, step: int = 1) -> PriceComponent:
    return PriceComponent(Dimension.ENERGY, Decimal(price), step)


STEP_SIZE_TARIFF = {  # OCPI 2.2.1 examples/tariff_14_step_size.json
    "id": "22", "currency": "EUR", "elements": [
        {"price_components": [{"type": "TIME", "price": 1.20, "step_size": 1800},
                              {"type": "PARKING_TIME", "price": 1.00, "step_size": 900}],
         "restrictions": {"start_time": "00:00", "end_time": "17:00"}},
        {"price_components": [{"type": "TIME", "price": 2.40, "step_size": 900},
                              {"type": "PARKING_TIME", "price": 1.00, "step_size": 900}],
         "restrictions": {"start_time": "17:00", "end_time": "20:00"}},
        {"price_components": [{"type": "TIME", "price": 2.40, "step_size": 900}],
         "restrictions": {"start_time": "20:00", "end_time": "23:59"}}]}

COMPLEX_TARIFF = {  # OCPI 2.2.1 examples/tariff_4_complex.json
    "id": "14", "currency": "EUR", "elements": [
        {"price_components": [{"type": "FLAT", "price": 2.50, "vat": 15.0, "step_size": 1}]},
        {"price_components": [{"type": "TIME", "price": 1.00, "vat": 20.0, "step_size": 900}],
         "restrictions": {"max_current": 32.00}},
        {"price_components": [{"type": "TIME", "price": 2.00, "vat": 20.0, "step_size": 600}],
         "restrictions": {"min_current": 32.00, "day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY",
                                                                 "FRIDAY"]}},
        {"price_components": [{"type": "TIME", "price": 1.25, "vat": 20.0, "step_size": 600}],
         "restrictions": {"min_current": 32.00, "day_of_week": ["SATURDAY", "SUNDAY"]}},
        {"price_components": [{"type": "PARKING_TIME", "price": 5.00, "vat": 10.0, "step_size": 300}],
         "restrictions": {"start_time": "09:00", "end_time": "18:00",
                          "day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]}},
        {"price_components": [{"type": "PARKING_TIME", "price": 6.00, "vat": 10.0, "step_size": 300}],
         "restrictions": {"start_time": "10:00", "end_time": "17:00", "day_of_week": ["SATURDAY"]}}]}


def test_ocpi_step_size_example_2_bills_the_last_elements_step_on_the_total() -> None:
    # Plug in at 16:35, charge 35 min: 25 min at 1.20/h + 20 min at 2.40/h (45 min billed) = 1.30.
    session = charge(datetime(2024, 5, 6, 16, 35, tzinfo=UTC), [(0, 0), (35, 7000)], 35)
    cost = price_session(session, tariff_from_ocpi(STEP_SIZE_TARIFF, version=1))
    assert [(c.dimension, c.element_index, c.quantity, c.amount) for c in cost.components] == [
        (Dimension.TIME, 0, Decimal(1500), Decimal("0.50")),
        (Dimension.TIME, 1, Decimal(1200), Decimal("0.80")),
    ]
    assert cost.total_excl_vat == Decimal("1.30")


def test_ocpi_step_size_example_1_parking_is_billed_on_its_own() -> None:
    # Plug in 16:55, charge 10 min, park 2 min. OCPI's text lets the rounded-up charging time swallow the
    # parking (0.50); its complex example does not (45 min parking billed after 147 min charging). We bill
    # each dimension on its own, as docs/billing.md says: 0.10 + 0.40 + 15 min parking 0.25 = 0.75.
    session = charge(datetime(2024, 5, 6, 16, 55, tzinfo=UTC), [(0, 0), (10, 3000), (11, 3000)], 12)
    cost = price_session(session, tariff_from_ocpi(STEP_SIZE_TARIFF, version=1))
    assert [(c.dimension, c.element_index, c.amount) for c in cost.components] == [
        (Dimension.TIME, 0, Decimal("0.10")), (Dimension.TIME, 1, Decimal("0.40")),
        (Dimension.PARKING_TIME, 1, Decimal("0.25"))]
    assert cost.total_excl_vat == Decimal("0.75")


def test_ocpi_step_size_example_free_parking_after_20h() -> None:
    session = charge(datetime(2024, 5, 6, 19, 55, tzinfo=UTC), [(0, 0), (10, 3000), (11, 3000)], 12)
    assert price_session(session, tariff_from_ocpi(STEP_SIZE_TARIFF, version=1)).total_excl_vat == Decimal("0.60")


def test_ocpi_complex_example_monday_morning_in_local_time() -> None:
    # Monday 09:30 Berlin, 147 min at 16 A, then parked 42 min: 2.50 + 150 min x 1.00 + 45 min x 5.00 = 8.75.
    start = datetime(2024, 3, 4, 9, 30, tzinfo=BERLIN).astimezone(UTC)
    session = charge(start, [(0, 0), (147, 20000), (189, 20000)], 189, currents=((0, 16), (147, 0)))
    tariff = tariff_from_ocpi(COMPLEX_TARIFF, version=1, time_zone="Europe/Berlin")
    cost = price_session(session, tariff)
    assert [(c.dimension, c.element_index, c.quantity, c.amount) for c in cost.components] == [
        (Dimension.FLAT, 0, Decimal(1), Decimal("2.50")),
        (Dimension.TIME, 1, Decimal(9000), Decimal("2.50")),
        (Dimension.PARKING_TIME, 4, Decimal(2700), Decimal("3.75")),
    ]
    assert cost.total_excl_vat == Decimal("8.75")


def test_ocpi_complex_example_saturday_afternoon() -> None:
    # Saturday 13:30, 114 min at 43 A, parked 71 min: 2.50 + 120 min x 1.25 + 75 min x 6.00 = 12.50.
    start = datetime(2024, 3, 9, 13, 30, tzinfo=BERLIN).astimezone(UTC)
    session = charge(start, [(0, 0), (114, 30000), (185, 30000)], 185, currents=((0, 43),))
    cost = price_session(session, tariff_from_ocpi(COMPLEX_TARIFF, version=1, time_zone="Europe/Berlin"))
    assert [(c.element_index, c.amount) for c in cost.components] == [
        (0, Decimal("2.50")), (3, Decimal("2.50")), (5, Decimal("7.50"))]
    assert cost.total_excl_vat == Decimal("12.50")


def test_ocpi_max_power_example() -> None:
    # 1 kWh at 6 kW, 40 kWh at 48 kW, 0.5 kWh at 4 kW: 0.20 + 20.00 + 0.10 = 20.30.
    tariff = tariff_from_ocpi({"id": "1", "currency": "EUR", "elements": [
        {"price_components": [{"type": "ENERGY", "price": 0.20, "step_size": 1}], "restrictions": {"max_power": 16.00}},
        {"price_components": [{"type": "ENERGY", "price": 0.35, "step_size": 1}], "restrictions": {"max_power": 32.00}},
        {"price_components": [{"type": "ENERGY", "price": 0.50, "step_size": 1}]}]}, version=1)
    session = charge(datetime(2024, 5, 6, 8, tzinfo=UTC), [(0, 0), (10, 1000), (60, 41000), (67.5, 41500)], 67.5)
    cost = price_session(session, tariff)
    assert [(c.element_index, c.quantity, c.amount) for c in cost.components] == [
        (0, Decimal(1500), Decimal("0.30")), (2, Decimal(40000), Decimal("20.00"))]
    assert cost.total_excl_vat == Decimal("20.30")


def test_ocpi_max_duration_example() -> None:
    # 5 kWh in the first 30 min free, 1.2 kWh in the next 10 min at 0.25: 0.30.
    tariff = tariff_from_ocpi({"id": "2", "currency": "EUR", "elements": [
        {"price_components": [{"type": "ENERGY", "price": 0.00, "step_size": 1}],
         "restrictions": {"max_duration": 1800}},
        {"price_components": [{"type": "ENERGY", "price": 0.25, "step_size": 1}],
         "restrictions": {"max_duration": 3600}},
        {"price_components": [{"type": "ENERGY", "price": 0.40, "step_size": 1}]}]}, version=1)
    session = charge(datetime(2024, 5, 6, 8, tzinfo=UTC), [(0, 0), (30, 5000), (40, 6200)], 40)
    assert price_session(session, tariff).total_excl_vat == Decimal("0.30")


def test_first_kwh_free_splits_at_the_kwh_threshold() -> None:
    tariff = Tariff(id="T", version=1, currency="EUR", elements=(
        TariffElement((energy("0.00"),), TariffRestrictions(max_kwh=Decimal(1))), TariffElement((energy("0.20"),))))
    session = charge(datetime(2024, 5, 6, 8, tzinfo=UTC), [(0, 0), (60, 20000)], 60)
    cost = price_session(session, tariff)
    assert [(c.element_index, c.quantity) for c in cost.components] == [(0, Decimal(1000)), (1, Decimal(19000))]
    assert cost.total_excl_vat == Decimal("3.80")


def test_night_rate_across_midnight_interpolates_energy_between_samples() -> None:
    tariff = Tariff(id="T", version=1, currency="EUR", elements=(
        TariffElement((energy("0.20"),), TariffRestrictions(start_time=datetime(1, 1, 1, 22).time(),
                                                            end_time=datetime(1, 1, 1, 6).time())),
        TariffElement((energy("0.40"),))))
    session = charge(datetime(2024, 5, 6, 21, tzinfo=UTC), [(0, 0), (120, 10000)], 120)
    periods = split_periods(session, tariff)
    assert [(p.start.hour, p.energy_wh, p.elements[Dimension.ENERGY]) for p in periods] == [
        (21, Decimal(5000), 1), (22, Decimal(5000), 0)]
    assert price_session(session, tariff).total_excl_vat == Decimal("3.00")


def test_day_of_week_and_dates_are_local_and_end_date_is_exclusive() -> None:
    restrictions = TariffRestrictions(start_date=datetime(2024, 5, 6).date(), end_date=datetime(2024, 5, 7).date())
    tariff = Tariff(id="T", version=1, currency="EUR", time_zone="Europe/Berlin", elements=(
        TariffElement((energy("0.10"),), restrictions), TariffElement((energy("0.30"),))))
    # 23:30 Berlin on May 6 is 21:30 UTC; midnight Berlin splits the hour in two.
    session = charge(datetime(2024, 5, 6, 21, 30, tzinfo=UTC), [(0, 0), (60, 2000)], 60)
    assert [c.element_index for c in price_session(session, tariff).components] == [0, 1]


def test_reservation_elements_never_price_a_charging_session() -> None:
    tariff = Tariff(id="T", version=1, currency="EUR", elements=(
        TariffElement((energy("9.99"),), TariffRestrictions(reservation="RESERVATION")),
        TariffElement((energy("0.3"),))))
    session = charge(datetime(2024, 5, 6, 8, tzinfo=UTC), [(0, 0), (60, 1000)], 60)
    assert price_session(session, tariff).total_excl_vat == Decimal("0.30")


@pytest.mark.parametrize(("step", "billed", "amount"), [(1, 116, "0.03"), (25, 125, "0.03"), (500, 500, "0.13")])
def test_energy_step_size_rounds_up(step: int, billed: int, amount: str) -> None:
    # OCPI 2.2.1 PriceComponent note: 115.2 Wh at 0.25/kWh.
    session = charge(datetime(2024, 5, 6, 8, tzinfo=UTC), [(0, 0), (59, "115.2")], 60)
    (component,) = price_session(session.state, simple(energy("0.25", step))).components
    assert (component.quantity, component.amount) == (Decimal(billed), Decimal(amount))


def test_ocpi_simple_energy_example_with_vat() -> None:
    session = charge(datetime(2024, 5, 6, 8, tzinfo=UTC), [(0, 0), (120, 20000)], 120)
    cost = price_session(session, simple(energy("0.25"), vat="10"))
    assert (cost.total_excl_vat, cost.vat, cost.total_incl_vat) == (Decimal("5.00"), Decimal("0.50"), Decimal("5.50"))


def test_vat_is_computed_on_the_total_and_rounded_half_up() -> None:
    # 200 Wh at 0.25/kWh = 0.05; 10 % VAT = 0.005 -> 0.01.
    session = charge(datetime(2024, 5, 6, 8, tzinfo=UTC), [(0, 0), (60, 200)], 60)
    cost = price_session(session, simple(energy("0.25"), vat="10"))
    assert (cost.total_excl_vat, cost.vat, cost.total_incl_vat) == (Decimal("0.05"), Decimal("0.01"), Decimal("0.06"))


def test_membership_discount_applies_to_the_subtotal_before_vat() -> None:
    session = charge(datetime(2024, 5, 6, 8, tzinfo=UTC), [(0, 0), (120, 20000)], 120)
    tariff = simple(energy("0.25"), vat="21", membership_discounts={"GOLD": Decimal(10)})
    gold = price_session(session, tariff, membership_level="GOLD")
    assert (gold.subtotal, gold.discount, gold.total_excl_vat) == (Decimal("5.00"), Decimal("0.50"), Decimal("4.50"))
    assert (gold.vat, gold.total_incl_vat) == (Decimal("0.95"), Decimal("5.45"))  # 0.945 rounds half-up
    assert price_session(session, tariff, membership_level="SILVER").discount == Decimal("0.00")


@pytest.mark.parametrize(("currency", "exponent"), [("EUR", -2), ("JPY", 0), ("KWD", -3)])
def test_amounts_have_the_currency_minor_unit(currency: str, exponent: int) -> None:
    session = charge(datetime(2024, 5, 6, 8, tzinfo=UTC), [(0, 0), (90, 12345)], 90)
    cost = price_session(session, simple(energy("33.3333"), PriceComponent(Dimension.FLAT, Decimal("1.5")),
                                         vat="19", currency=currency))
    amounts = [c.amount for c in cost.components] + [cost.subtotal, cost.discount, cost.total_excl_vat, cost.vat,
                                                      cost.total_incl_vat]
    assert all(isinstance(a, Decimal) and a.as_tuple().exponent == exponent for a in amounts)


def test_flat_fee_is_charged_once() -> None:
    session = charge(datetime(2024, 5, 6, 23, tzinfo=UTC), [(0, 0), (120, 1000)], 120)
    tariff = Tariff(id="T", version=1, currency="EUR", elements=(
        TariffElement((PriceComponent(Dimension.FLAT, Decimal("1.00")),), TariffRestrictions(max_duration=3600)),
        TariffElement((PriceComponent(Dimension.FLAT, Decimal("2.00")),))))
    (flat,) = price_session(session, tariff).components
    assert (flat.element_index, flat.amount) == (0, Decimal("1.00"))


def test_time_is_billed_per_hour_of_charging() -> None:
    session = charge(datetime(2024, 5, 6, 8, tzinfo=UTC), [(0, 0), (150, 10000)], 150)
    cost = price_session(session, simple(PriceComponent(Dimension.TIME, Decimal("2.00"), 60)))
    assert cost.total_excl_vat == Decimal("5.00")


def test_price_so_far_grows_while_charging() -> None:
    start = datetime(2024, 5, 6, 8, tzinfo=UTC)
    session = charge(start, [(0, 0), (30, 5000)], None)
    tariff = simple(energy("0.30"), PriceComponent(Dimension.TIME, Decimal("1.20")))
    early = price_so_far(session, tariff, start + timedelta(minutes=30))
    later = price_so_far(session, tariff, start + timedelta(minutes=60))
    assert early.total_excl_vat == Decimal("2.10")  # 5 kWh x 0.30 + 0.5 h x 1.20
    assert later.total_excl_vat == Decimal("2.70")
    assert later.priced_until == start + timedelta(minutes=60)


def test_caps_report_which_limit_was_hit() -> None:
    start = datetime(2024, 5, 6, 8, tzinfo=UTC)
    session = charge(start, [(0, 0), (30, 5000)], None)
    cost = price_so_far(session, simple(energy("0.30")), start + timedelta(minutes=30))
    now = start + timedelta(minutes=45)
    assert cap_reached(session, cost, BudgetCaps(max_energy_wh=Decimal(6000)), now) == frozenset()
    assert cap_reached(session, cost, BudgetCaps(max_energy_wh=Decimal(5000)), now) == {Cap.ENERGY}
    assert cap_reached(session, cost, BudgetCaps(max_duration_s=2700), now) == {Cap.DURATION}
    assert cap_reached(session, cost, BudgetCaps(max_amount=Decimal("1.50"), max_duration_s=9999), now) == {Cap.MONEY}


def test_bill_session_pins_the_version_and_a_new_version_never_reprices_it() -> None:
    session = charge(datetime(2024, 5, 6, 8, tzinfo=UTC), [(0, 0), (60, 10000)], 60)
    v1 = simple(energy("0.25"))
    cost = bill_session(session, v1)
    priced = session.events[-1]
    assert isinstance(priced, SessionPriced)
    assert (priced.billable, priced.cost) == (True, cost)
    assert bill_session(session, v1) == cost
    assert session.events[-1] is priced  # same cost: nothing new recorded
    v2 = Tariff(id="T", version=2, currency="EUR", elements=(TariffElement((energy("0.99"),)),))
    with pytest.raises(TariffAlreadyPinned):
        bill_session(session, v2)
    assert session.cost == cost


def test_a_disputed_session_is_priced_but_not_billable() -> None:
    session = charge(datetime(2024, 5, 6, 8, tzinfo=UTC), [(0, 5000), (30, 4000), (60, 6000)], 60)
    bill_session(session, simple(energy("0.25")))
    priced = session.events[-1]
    assert isinstance(priced, SessionPriced)
    assert priced.billable is False


def test_prices_are_decimal_never_float() -> None:
    with pytest.raises(TypeError):
        PriceComponent(Dimension.ENERGY, 0.25)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        TariffRestrictions(min_kwh=1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Tariff(id="T", version=1, currency="EUR", elements=(TariffElement((energy("0.1"),)),),
               vat_percent=0.2)  # type: ignore[arg-type]


def test_a_session_cleared_for_billing_is_priced_again_even_at_the_same_cost() -> None:
    # The stop arrives before the start: MISSING_START keeps it in review until the start is seen.
    start = datetime(2024, 5, 6, 8, tzinfo=UTC)
    session = ChargingSession("CS:1", "CS", "1")
    session.apply(TxEnded(event_id="stop", station_id="CS", transaction_id="1", timestamp=start + timedelta(hours=1),
                          received_at=start + timedelta(hours=1), meter_stop_wh=Decimal(10000)))
    session.apply(TxMeter(event_id="m", station_id="CS", transaction_id="1", timestamp=start, received_at=start,
                          readings=(MeterReading(start, REGISTER, Decimal(0), "Wh"),)))
    tariff = simple(energy("0.25"))
    bill_session(session, tariff)
    assert session.billable is False
    session.apply(TxStarted(event_id="start", station_id="CS", transaction_id="1", timestamp=start,
                            received_at=start, meter_start_wh=Decimal(0)))
    bill_session(session, tariff)
    priced = session.events[-1]
    assert isinstance(priced, SessionPriced)
    assert (priced.billable, priced.cost.total_excl_vat) == (True, Decimal("2.50"))

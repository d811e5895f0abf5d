"""The fast `split_periods` cuts and prices every session exactly like the straightforward reference, for any
session and any combination of OCPI restrictions."""

from __future__ import annotations

from datetime import date, time, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.billing.domain import (
    DayOfWeek,
    Dimension,
    PriceComponent,
    Tariff,
    TariffElement,
    TariffRestrictions,
    split_periods,
)
from tests.unit.billing._reference_pricing import reference_split_periods
from tests.unit.billing.test_billing_properties import SETTINGS, T0, Script, replay, scripts


def _optional(strategy: st.SearchStrategy[object], weight: int = 1) -> st.SearchStrategy[object]:
    """None, or (one time in 1 + `weight`) a value: restrictions that often hold one or two conditions."""
    return st.one_of(*[st.none()] * weight, strategy)


restrictions = st.builds(
    TariffRestrictions,
    start_time=_optional(st.builds(time, st.integers(0, 23), st.sampled_from([0, 30])), 4),
    end_time=_optional(st.builds(time, st.integers(0, 23), st.sampled_from([0, 30])), 4),
    start_date=_optional(st.just(date(2024, 3, 31)), 4),
    end_date=_optional(st.just(date(2024, 3, 31)), 4),
    min_kwh=_optional(st.integers(0, 30).map(Decimal), 4),
    max_kwh=_optional(st.integers(0, 60).map(Decimal), 4),
    min_current=_optional(st.integers(0, 100).map(Decimal), 4),
    max_current=_optional(st.integers(0, 200).map(Decimal), 4),
    min_power=_optional(st.integers(0, 100).map(Decimal), 4),
    max_power=_optional(st.integers(0, 400).map(Decimal), 4),
    min_duration=_optional(st.integers(0, 3 * 3600), 4),
    max_duration=_optional(st.integers(0, 6 * 3600), 4),
    day_of_week=_optional(st.frozensets(st.sampled_from(list(DayOfWeek)), min_size=1, max_size=6), 4).map(
        lambda days: days or frozenset()),
    reservation=st.sampled_from([None] * 9 + ["RESERVATION"]),
)
components = st.lists(st.sampled_from(list(Dimension)), min_size=1, max_size=3, unique=True).map(
    lambda dims: tuple(PriceComponent(d, Decimal("0.25"), 1) for d in dims))
elements = st.lists(st.builds(TariffElement, components, _optional(restrictions)), min_size=1, max_size=5)


@settings(SETTINGS, max_examples=300)
@given(script=scripts(), chosen=elements, zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
       until=_optional(st.integers(0, 24 * 60)))
def test_split_periods_equals_the_reference(script: Script, chosen: list[TariffElement], zone: str,
                                            until: int | None) -> None:
    tariff = Tariff(id="T", version=1, currency="EUR", elements=tuple(chosen), time_zone=zone)
    session = replay(script.inputs)
    now = None if until is None else T0 + timedelta(minutes=until)
    assert split_periods(session, tariff, now) == reference_split_periods(session, tariff, now)

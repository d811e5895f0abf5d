"""Pricing cuts a session at its meter and current samples only when a restriction can tell them apart (power,
kWh, current, or a UTC offset change in the window): the cost is the same as with a cut at every sample, for any
session, tariff and time zone (T0 is the night of a DST change in Europe)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, time, timedelta
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.billing.domain import Tariff, TariffElement, TariffRestrictions, price_session, pricing, split_periods
from tests.unit.billing.test_billing_pricing import charge, energy
from tests.unit.billing.test_billing_pricing_reference import _optional, elements
from tests.unit.billing.test_billing_properties import SETTINGS, T0, Script, replay, scripts


@settings(SETTINGS, max_examples=300)
@given(script=scripts(), chosen=elements, zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
       until=_optional(st.integers(0, 24 * 60)))
def test_fewer_cuts_give_the_cost_of_a_cut_at_every_sample(
    script: Script, chosen: list[TariffElement], zone: str, until: int | None
) -> None:
    tariff = Tariff(id="T", version=1, currency="EUR", elements=tuple(chosen), time_zone=zone)
    session = replay(script.inputs)
    now = None if until is None else T0 + timedelta(minutes=until)
    fewer = price_session(session, tariff, until=now)
    # the reference: the same pricing with a cut at every sample (the old behaviour), not a stand-in for anything
    with mock.patch.object(pricing, "_marks", functools.partial(pricing._marks, every_sample=True)):
        every = price_session(session, tariff, until=now)
    assert fewer == every


def test_a_plain_time_of_day_tariff_is_cut_at_its_clock_times_only() -> None:
    tariff = Tariff(id="T", version=1, currency="EUR", elements=(
        TariffElement((energy("0.20"),), TariffRestrictions(start_time=time(22), end_time=time(6))),
        TariffElement((energy("0.40"),))))
    session = charge(datetime(2024, 5, 6, 21, tzinfo=UTC), [(m, m * 100) for m in range(0, 121, 5)], 120)
    assert [p.start.hour for p in split_periods(session, tariff)] == [21, 22]
    with mock.patch.object(pricing, "_marks", functools.partial(pricing._marks, every_sample=True)):
        assert len(split_periods(session, tariff)) == 24
        every = price_session(session, tariff)
    assert price_session(session, tariff) == every

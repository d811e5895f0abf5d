"""The straightforward `split_periods` (before it evaluated each period's middle once for all elements): the
reference the fast one is property-tested against. Every restriction is re-evaluated per element and dimension."""

from __future__ import annotations

import bisect
import itertools
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from processors.billing.domain import ChargingSession, Dimension, Period, SessionState, Tariff, TariffRestrictions
from processors.billing.domain.meter import seconds
from processors.billing.domain.pricing import _between, _marks, _state, _window
from processors.billing.domain.tariff import DayOfWeek


def _matches(r: TariffRestrictions | None, p: Period, elapsed: Decimal, zone: ZoneInfo) -> bool:
    if r is None:
        return True
    local = (p.start + (p.end - p.start) / 2).astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if r.start_time and r.end_time and r.end_time <= r.start_time:
        in_hours = clock >= r.start_time or clock < r.end_time
    else:
        in_hours = (r.start_time is None or clock >= r.start_time) and (r.end_time is None or clock < r.end_time)
    power_kw = p.energy_wh * 3600 / p.duration_s / 1000 if p.duration_s else Decimal(0)
    return (
        r.reservation is None and in_hours
        and (r.start_date is None or local.date() >= r.start_date)
        and (r.end_date is None or local.date() < r.end_date)
        and (not r.day_of_week or DayOfWeek.of(local.date()) in r.day_of_week)
        and _between((p.energy_before_wh + p.energy_wh / 2) / 1000, r.min_kwh, r.max_kwh)
        and _between(power_kw, r.min_power, r.max_power)
        and _between(p.current_a, r.min_current, r.max_current)
        and _between(elapsed + p.duration_s / 2, r.min_duration, r.max_duration)
    )


def _current_at(state: SessionState, when: datetime) -> Decimal | None:
    index = bisect.bisect_right(state.currents, when, key=lambda point: point[0])
    return state.currents[index - 1][1] if index else None


def reference_split_periods(
    session: ChargingSession | SessionState, tariff: Tariff, until: datetime | None = None
) -> tuple[Period, ...]:
    state = _state(session)
    window = _window(state, until)
    if window is None:
        return ()
    start, end = window
    marks = _marks(state, tariff, start, end)
    bounds = list(itertools.pairwise(marks)) or [(start, start)]
    series = state.series

    def energy_at(when: datetime, first: bool, last: bool) -> Decimal:
        return series.last if last else series.baseline if first else series.at(when)

    periods = []
    for index, (t0, t1) in enumerate(bounds):
        e0 = energy_at(t0, index == 0, False)
        e1 = energy_at(t1, False, index == len(bounds) - 1)
        raw = Period(t0, t1, max(e1 - e0, Decimal(0)), e0 - series.baseline,
                     state.idle_from is not None and t0 >= state.idle_from, _current_at(state, t0), {})
        dimensions = (Dimension.FLAT, Dimension.ENERGY, Dimension.PARKING_TIME if raw.parking else Dimension.TIME)
        elapsed = seconds(t0 - start)
        chosen = {}
        for dimension in dimensions:
            matching = (i for i, element in enumerate(tariff.elements)
                        if element.component(dimension) and _matches(element.restrictions, raw, elapsed, tariff.zone))
            first = next(matching, None)
            if first is not None:
                chosen[dimension] = first
        periods.append(replace(raw, elements=chosen))
    return tuple(periods)

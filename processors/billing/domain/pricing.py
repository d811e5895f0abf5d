"""Pricing a session with an OCPI-style tariff, in Decimal only (rounding rules: docs/billing.md).

The session is split into periods at every instant where a tariff element could start or stop applying
(local midnights, start/end times, duration and kWh thresholds, meter samples, the start of parking).
Each period's energy comes from the meter series, linearly interpolated between samples. Per period and
dimension the first matching element applies (OCPI); quantities are summed per (dimension, element).
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_CEILING, Decimal, localcontext
from enum import StrEnum
from zoneinfo import ZoneInfo

from processors.billing.domain.meter import seconds
from processors.billing.domain.session import ChargingSession, SessionState
from processors.billing.domain.tariff import (
    DayOfWeek,
    Dimension,
    Tariff,
    TariffRef,
    TariffRestrictions,
    round_money,
)

_UNIT_DIVISOR = {Dimension.ENERGY: Decimal(1000), Dimension.TIME: Decimal(3600),
                 Dimension.PARKING_TIME: Decimal(3600), Dimension.FLAT: Decimal(1)}
_DIMENSION_ORDER = {d: i for i, d in enumerate((Dimension.FLAT, Dimension.ENERGY, Dimension.TIME,
                                                  Dimension.PARKING_TIME))}


@dataclass(frozen=True)
class CostComponent:
    """One line of a cost: `quantity` is billed in the step unit (Wh, seconds, 1 session), after step_size."""

    dimension: Dimension
    element_index: int
    quantity: Decimal
    unit_price: Decimal  # excl. VAT, per kWh / hour / session
    amount: Decimal  # excl. VAT, rounded half-up to the currency's minor unit


@dataclass(frozen=True)
class CostBreakdown:
    tariff: TariffRef
    currency: str
    components: tuple[CostComponent, ...]
    subtotal: Decimal  # sum of the component amounts
    discount_percent: Decimal
    discount: Decimal
    total_excl_vat: Decimal  # subtotal - discount
    vat_percent: Decimal
    vat: Decimal
    total_incl_vat: Decimal  # total_excl_vat + vat
    priced_until: datetime | None


@dataclass(frozen=True)
class Period:
    """A stretch of the session during which no restriction can change; `elements` index the tariff."""

    start: datetime
    end: datetime
    energy_wh: Decimal
    energy_before_wh: Decimal  # consumed in the session before this period
    parking: bool
    current_a: Decimal | None
    elements: Mapping[Dimension, int]

    @property
    def duration_s(self) -> Decimal:
        return seconds(self.end - self.start)


def _state(session: ChargingSession | SessionState) -> SessionState:
    return session.state if isinstance(session, ChargingSession) else session


def _window(state: SessionState, until: datetime | None) -> tuple[datetime, datetime] | None:
    if state.started_at is None:
        return None
    if state.ended and state.stopped_at is not None:
        end = state.stopped_at
    else:
        end = until or max([state.started_at, *(t for t, _ in state.series.points)])
    return state.started_at, max(end, state.started_at)


def _marks(
    state: SessionState, tariff: Tariff, start: datetime, end: datetime, *, every_sample: bool = False
) -> list[datetime]:
    """Every instant inside [start, end] at which an element may start or stop applying.

    Meter samples are cuts only when a restriction looks at the energy curve (power, kWh), current samples only
    when one looks at the current, and both whenever the zone's UTC offset changes in the window (a local clock
    that jumps) or the register goes down; between the other cuts every restriction gives one verdict, so the
    same cost comes out of fewer periods (`every_sample` keeps them all: what the tests compare with)."""
    marks = {start, end}
    if state.idle_from is not None:
        marks.add(state.idle_from)
    restrictions = [e.restrictions for e in tariff.elements if e.restrictions is not None]
    clock = {datetime.min.time()} | {t for r in restrictions for t in (r.start_time, r.end_time) if t}
    zone, day = tariff.zone, start.astimezone(tariff.zone).date() - timedelta(days=1)
    offsets = set()
    while day <= end.astimezone(zone).date() + timedelta(days=1):
        marks.update(datetime.combine(day, t, zone).astimezone(UTC) for t in clock)
        offsets.add(datetime.combine(day, datetime.min.time(), zone).utcoffset())
        day += timedelta(days=1)
    points = state.series.points
    # a period's energy is never negative, so a register that goes down must be cut where it does
    every_sample = every_sample or len(offsets) > 1 or any(b[1] < a[1] for a, b in itertools.pairwise(points))
    if every_sample or any(r.min_power is not None or r.max_power is not None or r.min_kwh is not None
                           or r.max_kwh is not None for r in restrictions):
        marks.update(t for t, _ in points)
    if every_sample or any(r.min_current is not None or r.max_current is not None for r in restrictions):
        marks.update(t for t, _ in state.currents)
    for r in restrictions:
        marks.update(start + timedelta(seconds=s) for s in (r.min_duration, r.max_duration) if s is not None)
        for kwh in (r.min_kwh, r.max_kwh):
            crossing = None if kwh is None else state.series.time_at(state.series.baseline + kwh * 1000)
            marks.update([crossing] if crossing else [])
    return sorted(m for m in marks if start <= m <= end)


def _between(value: Decimal | None, low: Decimal | int | None, high: Decimal | int | None) -> bool:
    """low <= value < high, where a missing bound always holds and a missing value never meets a bound."""
    if low is None and high is None:
        return True
    return value is not None and (low is None or value >= low) and (high is None or value < high)


class _Middle:
    """What the restrictions look at in one period, evaluated at its middle, each computed once when first used
    (a period is matched against several elements and dimensions)."""

    def __init__(self, p: Period, elapsed: Decimal, zone: ZoneInfo) -> None:
        self.p, self.elapsed, self.zone = p, elapsed, zone

    @functools.cached_property
    def local(self) -> datetime:
        return (self.p.start + (self.p.end - self.p.start) / 2).astimezone(self.zone)

    @functools.cached_property
    def clock(self) -> time:
        return self.local.time().replace(tzinfo=None)

    @functools.cached_property
    def kwh(self) -> Decimal:
        return (self.p.energy_before_wh + self.p.energy_wh / 2) / 1000

    @functools.cached_property
    def power_kw(self) -> Decimal:
        p = self.p
        return p.energy_wh * 3600 / p.duration_s / 1000 if p.duration_s else Decimal(0)

    @functools.cached_property
    def duration(self) -> Decimal:
        return self.elapsed + self.p.duration_s / 2


def _matches(r: TariffRestrictions | None, m: _Middle) -> bool:
    """OCPI restrictions, evaluated at the middle of the period (no restriction changes inside it)."""
    if r is None:
        return True
    if r.reservation is not None:
        return False
    if r.start_time or r.end_time:
        clock = m.clock
        if r.start_time and r.end_time and r.end_time <= r.start_time:  # wraps past midnight
            if not (clock >= r.start_time or clock < r.end_time):
                return False
        elif not ((r.start_time is None or clock >= r.start_time) and (r.end_time is None or clock < r.end_time)):
            return False
    if r.start_date is not None and m.local.date() < r.start_date:
        return False
    if r.end_date is not None and m.local.date() >= r.end_date:
        return False
    if r.day_of_week and DayOfWeek.of(m.local.date()) not in r.day_of_week:
        return False
    if (r.min_kwh is not None or r.max_kwh is not None) and not _between(m.kwh, r.min_kwh, r.max_kwh):
        return False
    if (r.min_power is not None or r.max_power is not None) and not _between(m.power_kw, r.min_power, r.max_power):
        return False
    if (r.min_duration is not None or r.max_duration is not None) \
            and not _between(m.duration, r.min_duration, r.max_duration):
        return False
    return _between(m.p.current_a, r.min_current, r.max_current)


def _current_at(state: SessionState, when: datetime) -> Decimal | None:
    index = bisect.bisect_right(state.currents, when, key=lambda point: point[0])
    return state.currents[index - 1][1] if index else None


def split_periods(
    session: ChargingSession | SessionState, tariff: Tariff, until: datetime | None = None
) -> tuple[Period, ...]:
    """The session cut into periods, each with its energy and the element that prices each dimension.
    The periods' energies add up to the session's energy exactly."""
    state = _state(session)
    window = _window(state, until)
    if window is None:
        return ()
    start, end = window
    marks = _marks(state, tariff, start, end)
    bounds = list(itertools.pairwise(marks)) or [(start, start)]
    series = state.series
    # the energy at each bound: the baseline at the first, the last value at the last, interpolated between
    values = [series.baseline, *(series.at(t) for t in marks[1:-1]), series.last]
    current_times = [t for t, _ in state.currents]
    by_dimension = {d: [(i, e.restrictions) for i, e in enumerate(tariff.elements) if e.component(d)]
                    for d in Dimension}
    zone = tariff.zone
    periods = []
    for index, (t0, t1) in enumerate(bounds):
        e0, e1 = values[index], values[index + 1]
        at = bisect.bisect_right(current_times, t0)
        parking = state.idle_from is not None and t0 >= state.idle_from
        chosen: dict[Dimension, int] = {}  # filled below, before the period is handed out
        period = Period(t0, t1, max(e1 - e0, Decimal(0)), e0 - series.baseline, parking,
                        state.currents[at - 1][1] if at else None, chosen)
        middle = _Middle(period, seconds(t0 - start), zone)
        matched: dict[int, bool] = {}
        for dimension in (Dimension.FLAT, Dimension.ENERGY, Dimension.PARKING_TIME if parking else Dimension.TIME):
            for i, restrictions in by_dimension[dimension]:
                ok = matched.get(i)
                if ok is None:
                    ok = matched[i] = _matches(restrictions, middle)
                if ok:
                    chosen[dimension] = i
                    break
        periods.append(period)
    return tuple(periods)


def _quantities(periods: tuple[Period, ...], tariff: Tariff) -> dict[tuple[Dimension, int], Decimal]:
    """Quantity per (dimension, element); each dimension's total is rounded up to the step_size of the
    element that priced it last (OCPI 2.2.1), the extra going to that element. FLAT counts once."""
    quantities: dict[tuple[Dimension, int], Decimal] = {}
    last_use: dict[tuple[Dimension, int], int] = {}
    for index, period in enumerate(periods):
        for dimension, element in period.elements.items():
            if dimension is Dimension.FLAT:
                if not any(d is Dimension.FLAT for d, _ in quantities):
                    quantities[(dimension, element)] = Decimal(1)
                continue
            amount = period.energy_wh if dimension is Dimension.ENERGY else period.duration_s
            quantities[(dimension, element)] = quantities.get((dimension, element), Decimal(0)) + amount
            last_use[(dimension, element)] = index
    for dimension in (Dimension.ENERGY, Dimension.TIME, Dimension.PARKING_TIME):
        keys = [k for k in last_use if k[0] is dimension]
        if keys:
            final = max(keys, key=lambda k: last_use[k])
            component = tariff.elements[final[1]].component(dimension)
            step = Decimal(component.step_size if component else 1)
            total = sum((quantities[k] for k in keys), Decimal(0))
            quantities[final] += (total / step).to_integral_value(ROUND_CEILING) * step - total
    return {k: q for k, q in quantities.items() if q > 0}


def price_session(
    session: ChargingSession | SessionState, tariff: Tariff, *, membership_level: str | None = None,
    until: datetime | None = None,
) -> CostBreakdown:
    """The cost of a session (of its part up to `until` while it runs) under one tariff version."""
    periods = split_periods(session, tariff, until)
    currency = tariff.currency
    with localcontext() as context:
        context.prec = 60
        components = []
        for (dimension, element), quantity in sorted(
            _quantities(periods, tariff).items(), key=lambda kv: (kv[0][1], _DIMENSION_ORDER[kv[0][0]])
        ):
            component = tariff.elements[element].component(dimension)
            assert component is not None
            amount = round_money(quantity * component.price / _UNIT_DIVISOR[dimension], currency)
            components.append(CostComponent(dimension, element, quantity, component.price, amount))
        subtotal = round_money(sum((c.amount for c in components), Decimal(0)), currency)
        discount_percent = tariff.discount_percent(membership_level)
        discount = round_money(subtotal * discount_percent / 100, currency)
        total_excl_vat = subtotal - discount
        vat = round_money(total_excl_vat * tariff.vat_percent / 100, currency)
    return CostBreakdown(
        tariff=tariff.ref, currency=currency, components=tuple(components), subtotal=subtotal,
        discount_percent=discount_percent, discount=discount, total_excl_vat=total_excl_vat,
        vat_percent=tariff.vat_percent, vat=vat, total_incl_vat=total_excl_vat + vat,
        priced_until=periods[-1].end if periods else None,
    )


def price_so_far(
    session: ChargingSession | SessionState, tariff: Tariff, now: datetime, *, membership_level: str | None = None
) -> CostBreakdown:
    """The running cost at `now` (for a 2.x CostUpdated): the session priced as if it stopped now."""
    return price_session(session, tariff, membership_level=membership_level, until=now)


def bill_session(
    session: ChargingSession, tariff: Tariff, *, membership_level: str | None = None
) -> CostBreakdown:
    """Price a session with its pinned tariff version (pinning this one if none) and record the cost."""
    cost = price_session(session, tariff, membership_level=membership_level)
    session.record_cost(cost)
    return cost


class Cap(StrEnum):
    ENERGY = "ENERGY"
    DURATION = "DURATION"
    MONEY = "MONEY"


@dataclass(frozen=True)
class BudgetCaps:
    """Per-session limits; `max_amount` is incl. VAT, in the tariff's currency."""

    max_energy_wh: Decimal | None = None
    max_duration_s: int | None = None
    max_amount: Decimal | None = None


def cap_reached(
    session: ChargingSession | SessionState, cost: CostBreakdown | None, caps: BudgetCaps,
    now: datetime | None = None,
) -> frozenset[Cap]:
    """The caps the session has reached (empty when none): energy, duration up to `now`, money."""
    state = _state(session)
    hit = set()
    if caps.max_energy_wh is not None and state.energy_wh >= caps.max_energy_wh:
        hit.add(Cap.ENERGY)
    window = _window(state, now)
    if caps.max_duration_s is not None and window and seconds(window[1] - window[0]) >= caps.max_duration_s:
        hit.add(Cap.DURATION)
    if caps.max_amount is not None and cost is not None and cost.total_incl_vat >= caps.max_amount:
        hit.add(Cap.MONEY)
    return frozenset(hit)

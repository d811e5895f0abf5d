"""Meter readings, normalised from OCPP 1.6 and 2.x, and the energy series billed from them.

Every value is converted to a base unit (Wh, W, A, varh...) as a Decimal. The billed quantity is
`Energy.Active.Import.Register` without phase; `build_series` falls back, per session, to the sum of
its phases L1..L3, then to the sum of `Energy.Active.Import.Interval` (docs/billing.md).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cached_property
from typing import Any

REGISTER = "Energy.Active.Import.Register"
INTERVAL = "Energy.Active.Import.Interval"
CURRENT = "Current.Import"
POWER = "Power.Active.Import"
BILLING_MEASURANDS = frozenset({REGISTER, INTERVAL, CURRENT, POWER})

_UNITS: dict[str, tuple[str, int]] = {
    "Wh": ("Wh", 1), "kWh": ("Wh", 1000), "W": ("W", 1), "kW": ("W", 1000), "A": ("A", 1),
    "varh": ("varh", 1), "kvarh": ("varh", 1000), "var": ("var", 1), "kvar": ("var", 1000),
    "VA": ("VA", 1), "kVA": ("VA", 1000),
}
_PHASES = {"L1": "L1", "L1-N": "L1", "L2": "L2", "L2-N": "L2", "L3": "L3", "L3-N": "L3"}
# Which meter location wins when a charger reports several; the EV's own figures are never billed.
_LOCATION_RANK = {"Outlet": 0, "Cable": 1, "Inlet": 2, "Body": 3}
_MILLI = Decimal("0.001")
_CHARGING_STATES = frozenset({"Charging", "SuspendedEVSE"})
_PARKING_STATES = frozenset({"SuspendedEV", "EVConnected"})


class EnergySource(StrEnum):
    REGISTER = "REGISTER"
    PHASE_SUM = "PHASE_SUM"
    INTERVAL_SUM = "INTERVAL_SUM"
    NONE = "NONE"


@dataclass(frozen=True)
class MeterReading:
    """One sampled value, in its base unit (Wh for energy, W for power, A for current)."""

    timestamp: datetime
    measurand: str
    value: Decimal
    unit: str
    phase: str | None = None
    context: str = "Sample.Periodic"
    location: str = "Outlet"
    signed: bool = False


def parse_timestamp(raw: Any) -> datetime:
    """An OCPP date-time as an aware UTC datetime; a missing offset is read as UTC (OCPP says UTC)."""
    if isinstance(raw, datetime):
        parsed = raw
    elif isinstance(raw, str):
        parsed = datetime.fromisoformat(raw)
    else:
        raise ValueError(f"not a timestamp: {raw!r}")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def to_decimal(raw: Any) -> Decimal | None:
    """A JSON number or numeric string as a finite Decimal; None when it is not one."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        return None
    try:
        value = raw if isinstance(raw, Decimal) else Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _reading(
    stamp: datetime, sampled: Mapping[str, Any], value: Decimal | None, unit: str, signed: bool
) -> MeterReading | None:
    measurand = str(sampled.get("measurand") or REGISTER)
    if value is None or measurand not in BILLING_MEASURANDS:
        return None
    base_unit, factor = _UNITS.get(unit, (unit, 1))
    return MeterReading(
        timestamp=stamp, measurand=measurand, value=value * factor, unit=base_unit,
        phase=sampled.get("phase"), context=str(sampled.get("context") or "Sample.Periodic"),
        location=str(sampled.get("location") or "Outlet"), signed=signed,
    )


def readings_from_v16(meter_values: Sequence[Mapping[str, Any]]) -> tuple[MeterReading, ...]:
    """Readings of a 1.6 `meterValue`/`transactionData` list (defaults: register, Wh, Raw, periodic)."""
    out: list[MeterReading] = []
    for meter_value in meter_values:
        stamp = parse_timestamp(meter_value["timestamp"])
        for sampled in meter_value.get("sampledValue", ()):
            if sampled.get("format") == "SignedData":
                continue  # the value is the signed blob, not a number
            reading = _reading(stamp, sampled, to_decimal(sampled.get("value")), sampled.get("unit") or "Wh", False)
            if reading is not None:
                out.append(reading)
    return tuple(out)


def readings_from_v2(meter_values: Sequence[Mapping[str, Any]]) -> tuple[MeterReading, ...]:
    """Readings of a 2.0.1/2.1 `meterValue` list; `unitOfMeasure.multiplier` is a power of ten."""
    out: list[MeterReading] = []
    for meter_value in meter_values:
        stamp = parse_timestamp(meter_value["timestamp"])
        for sampled in meter_value.get("sampledValue", ()):
            value = to_decimal(sampled.get("value"))
            if value is None:
                continue
            unit_of_measure = sampled.get("unitOfMeasure") or {}
            value = value.scaleb(int(unit_of_measure.get("multiplier", 0)))
            signed = sampled.get("signedMeterValue") is not None
            reading = _reading(stamp, sampled, value, unit_of_measure.get("unit") or "Wh", signed)
            if reading is not None:
                out.append(reading)
    return tuple(out)


@dataclass(frozen=True)
class EnergySeries:
    """Cumulative energy in Wh over time, sorted by time; `baseline` is the value at session start."""

    source: EnergySource
    points: tuple[tuple[datetime, Decimal], ...] = ()
    baseline: Decimal = Decimal(0)

    @cached_property
    def _times(self) -> list[datetime]:
        return [t for t, _ in self.points]

    @property
    def last(self) -> Decimal:
        return self.points[-1][1] if self.points else self.baseline

    @property
    def energy_wh(self) -> Decimal:
        return max(Decimal(0), self.last - self.baseline)

    def at(self, when: datetime) -> Decimal:
        """The value at `when`, interpolated linearly between points (to the milli-Wh), clamped at the ends."""
        if not self.points:
            return self.baseline
        index = bisect.bisect_right(self._times, when)
        if index == 0:
            return self.points[0][1]
        if index == len(self.points):
            return self.points[-1][1]
        (t0, v0), (t1, v1) = self.points[index - 1], self.points[index]
        return (v0 + (v1 - v0) * seconds(when - t0) / seconds(t1 - t0)).quantize(_MILLI)

    def time_at(self, value: Decimal) -> datetime | None:
        """The first instant at which the series reaches `value`, or None if it never does."""
        for (t0, v0), (t1, v1) in itertools.pairwise(self.points):
            if v0 < value <= v1:
                fraction = (value - v0) / (v1 - v0)
                return t0 + timedelta(microseconds=int(seconds(t1 - t0) * fraction * 1_000_000))
        return None


def seconds(delta: timedelta) -> Decimal:
    """A timedelta as exact Decimal seconds."""
    whole = Decimal(delta.days * 86400 + delta.seconds)
    return whole + Decimal(delta.microseconds).scaleb(-6) if delta.microseconds else whole


def _best_per_key(readings: Iterable[MeterReading]) -> dict[tuple[datetime, str | None], Decimal]:
    """One value per (time, phase): duplicates of a sample collapse, and conflicting copies keep the max."""
    best: dict[tuple[datetime, str | None], Decimal] = {}
    for reading in readings:
        key = (reading.timestamp, _PHASES.get(reading.phase or "", reading.phase))
        best[key] = max(best.get(key, reading.value), reading.value)
    return best


def _usable(readings: Iterable[MeterReading], measurand: str) -> list[MeterReading]:
    """Readings of one measurand from the best meter location reported in the session."""
    candidates = [r for r in readings if r.measurand == measurand and r.location in _LOCATION_RANK]
    if not candidates:
        return []
    best = min(_LOCATION_RANK[r.location] for r in candidates)
    return [r for r in candidates if _LOCATION_RANK[r.location] == best]


def _totals(readings: list[MeterReading]) -> tuple[EnergySource, dict[datetime, Decimal]]:
    """Per-timestamp totals: the unphased value if any, else the sum of L1..L3 where all are present."""
    values = _best_per_key(readings)
    totals = {t: v for (t, phase), v in values.items() if phase is None}
    if totals:
        return EnergySource.REGISTER, totals
    phased: dict[datetime, dict[str, Decimal]] = {}
    for (t, phase), v in values.items():
        if phase in ("L1", "L2", "L3"):
            phased.setdefault(t, {})[phase] = v
    width = max((len(p) for p in phased.values()), default=0)
    return EnergySource.PHASE_SUM, {t: sum(p.values(), Decimal(0)) for t, p in phased.items() if len(p) == width}


def build_series(readings: Iterable[MeterReading], start: datetime | None) -> EnergySeries:
    """The billed energy series of a session, from the first source in the fallback order that has data."""
    readings = list(readings)
    source, totals = _totals(_usable(readings, REGISTER))
    if totals:
        ordered = tuple(sorted(totals.items()))
        return EnergySeries(source, ordered, ordered[0][1])
    _, intervals = _totals(_usable(readings, INTERVAL))
    if not intervals:
        return EnergySeries(EnergySource.NONE)
    cumulative, points = Decimal(0), list[tuple[datetime, Decimal]]()
    if start is not None and start < min(intervals):
        points.append((start, Decimal(0)))
    for t, v in sorted(intervals.items()):
        cumulative += v
        points.append((t, cumulative))
    return EnergySeries(EnergySource.INTERVAL_SUM, tuple(points), Decimal(0))


def current_series(readings: Iterable[MeterReading]) -> tuple[tuple[datetime, Decimal], ...]:
    """`Current.Import` summed over phases (or unphased) per timestamp, sorted: a step function in A."""
    _, totals = _totals(_usable(readings, CURRENT))
    return tuple(sorted(totals.items()))


def idle_from_meter(series: EnergySeries, idle_power_w: Decimal) -> datetime | None:
    """End of the last segment that drew more than `idle_power_w`, if the meter was seen idle after it."""
    points = series.points
    for index in range(len(points) - 1, 0, -1):
        (t0, v0), (t1, v1) = points[index - 1], points[index]
        span = seconds(t1 - t0)
        if span > 0 and (v1 - v0) * 3600 / span > idle_power_w:
            return t1 if index < len(points) - 1 else None
    return None


def idle_from_states(states: Iterable[tuple[datetime, str]]) -> datetime | None:
    """Start of the trailing run of non-charging 2.x `chargingState`s that follows charging, in order."""
    idle: datetime | None = None
    charged = False
    for stamp, state in states:
        if state in _CHARGING_STATES:
            idle, charged = None, True
        elif state in _PARKING_STATES and charged and idle is None:
            idle = stamp
    return idle


def series_anomalies(series: EnergySeries, max_power_w: Decimal, slack_wh: Decimal) -> tuple[list[str], list[str]]:
    """Notes on the register going down, and on steps above `max_power_w` (plus a resolution slack)."""
    regressions, surges = [], []
    for (t0, v0), (t1, v1) in itertools.pairwise(series.points):
        if v1 < v0:
            regressions.append(f"register fell from {v0} to {v1} Wh at {t1.isoformat()}")
        elif v1 - v0 > max_power_w * seconds(t1 - t0) / 3600 + slack_wh:
            surges.append(f"{v1 - v0} Wh between {t0.isoformat()} and {t1.isoformat()}")
    return regressions, surges

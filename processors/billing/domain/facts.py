"""The incremental form of `derive_state`: a session's inputs folded into order-independent facts.

`derive_state(inputs)` recomputes everything from every input (a few ms for a long session). `SessionFacts`
keeps what the derivation needs as commutative merges (max per meter key, min per choice by the input order,
OR of rejections...) and keeps the billed register series sorted with its anomalies per pair of neighbours, so
adding a meter input costs O(log n) and `state()` is one pass in C over the points. Its result equals
`derive_state` for any set of inputs (property-tested against it); the general fallbacks (phase sums,
intervals) reuse the reference functions.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal

from processors.billing.domain.events import SessionFlag, TxEnded, TxInput, TxStarted
from processors.billing.domain.meter import (
    _LOCATION_RANK,
    _PHASES,
    CURRENT,
    REGISTER,
    EnergySeries,
    EnergySource,
    MeterReading,
    build_series,
    current_series,
    idle_from_meter,
    seconds,
    series_anomalies,
)
from processors.billing.domain.session import (
    SessionPolicy,
    SessionState,
    _order,
    _skew_notes,
    _status,
)

_CHARGING = frozenset({"Charging", "SuspendedEVSE"})
_PARKING = frozenset({"SuspendedEV", "EVConnected"})
_META = ("evse_id", "connector_id", "id_token", "driver_id")
Order = tuple[bool, int, datetime, datetime, str]


class _Stream:
    """One unphased series (time -> value) of one measurand and location, merged with max, kept sorted;
    anchors (1.6 meterStart/meterStop of the chosen start/stop) overlay it. With `policy`, the anomaly
    of each pair of neighbours is kept by the later time, so adding a point rechecks two pairs only."""

    def __init__(self, policy: SessionPolicy | None) -> None:
        self.times: list[datetime] = []
        self.values: dict[datetime, Decimal] = {}
        self._base: dict[datetime, Decimal] = {}
        self._anchors: dict[str, tuple[datetime, Decimal]] = {}
        self._policy = policy
        self._points: tuple[tuple[datetime, Decimal], ...] | None = ()  # None: to rebuild from times/values
        self.regressions: dict[datetime, str] = {}
        self.surges: dict[datetime, str] = {}

    def put(self, t: datetime, value: Decimal) -> None:
        old = self._base.get(t)
        if old is None or value > old:
            self._base[t] = value
            self._refresh(t)

    def anchor(self, name: str, point: tuple[datetime, Decimal] | None) -> None:
        old = self._anchors.get(name)
        if old == point:
            return
        if point is None:
            del self._anchors[name]
        else:
            self._anchors[name] = point
        for t in {p[0] for p in (old, point) if p is not None}:
            self._refresh(t)

    def points(self) -> tuple[tuple[datetime, Decimal], ...]:
        points = self._points
        if points is None:
            points = self._points = tuple(zip(self.times, map(self.values.__getitem__, self.times), strict=True))
        return points

    def _effective(self, t: datetime) -> Decimal | None:
        base = self._base.get(t)
        if not self._anchors:
            return base
        candidates = [v for at, v in self._anchors.values() if at == t]
        if base is not None:
            candidates.append(base)
        return max(candidates, default=None)

    def _refresh(self, t: datetime) -> None:
        new, old = self._effective(t), self.values.get(t)
        if new == old:
            return
        times = self.times
        if old is None and new is not None and (not times or t > times[-1]):  # the usual case: a later sample
            points = self._points
            times.append(t)
            self.values[t] = new
            self._points = None if points is None else (*points, (t, new))
            self._check(len(times) - 1)
            return
        self._points = None
        i = bisect.bisect_left(times, t)
        if new is None:
            self._forget(i)
            self._forget(i + 1)
            del self.times[i], self.values[t]
            self._check(i)
            return
        if old is None:
            self._forget(i)
            self.times.insert(i, t)
        self.values[t] = new
        self._check(i)
        self._check(i + 1)

    def _forget(self, i: int) -> None:
        if 0 <= i < len(self.times):
            self.regressions.pop(self.times[i], None)
            self.surges.pop(self.times[i], None)

    def _check(self, i: int) -> None:
        """(Re)compute the anomaly of the pair ending at index i, as `series_anomalies` words it."""
        policy = self._policy
        if policy is None or i <= 0 or i >= len(self.times):
            return
        t0, t1 = self.times[i - 1], self.times[i]
        v0, v1 = self.values[t0], self.values[t1]
        self.regressions.pop(t1, None)
        self.surges.pop(t1, None)
        if v1 < v0:
            self.regressions[t1] = f"register fell from {v0} to {v1} Wh at {t1.isoformat()}"
        elif v1 - v0 > policy.max_power_w * seconds(t1 - t0) / 3600 + policy.power_slack_wh:
            self.surges[t1] = f"{v1 - v0} Wh between {t0.isoformat()} and {t1.isoformat()}"


def _idle_from_sorted_states(states: list[tuple[Order, datetime, str]]) -> datetime | None:
    """`idle_from_states`, scanned from the end: the first parking state after the last charging one."""
    candidate = None
    for _, stamp, state in reversed(states):
        if state in _CHARGING:
            return candidate
        if state in _PARKING:
            candidate = stamp
    return None


class SessionFacts:
    """What `derive_state` needs from a session's inputs, folded in one input at a time."""

    def __init__(self, station_id: str, transaction_id: str, policy: SessionPolicy) -> None:
        self.station_id, self.transaction_id, self.policy = station_id, transaction_id, policy
        self.starts: dict[str, TxStarted] = {}
        self.ends: dict[str, TxEnded] = {}
        self._meta: dict[str, tuple[Order, object]] = {}
        self._skew: tuple[Order, str] | None = None
        self._states: list[tuple[Order, datetime, str]] = []
        self._readings: dict[tuple[str, str, datetime, str | None], Decimal] = {}
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._locations: dict[str, set[str]] = {}
        self.rejected = False
        self.min_stamp: datetime | None = None
        self.max_timestamp: datetime | None = None
        self.max_received: datetime | None = None

    def add(self, tx: TxInput) -> None:
        """Fold in one input (the caller dedupes by event_id)."""
        order = _order(tx)
        if isinstance(tx, TxStarted):
            self.starts[tx.event_id] = tx
        elif isinstance(tx, TxEnded):
            self.ends[tx.event_id] = tx
        for name in _META:
            value = getattr(tx, name)
            if value is not None and (name not in self._meta or order < self._meta[name][0]):
                self._meta[name] = (order, value)
        if not (isinstance(tx, TxEnded) and tx.synthetic):
            for note in _skew_notes([tx], self.policy.max_clock_skew):
                if self._skew is None or order < self._skew[0]:
                    self._skew = (order, note)
        if tx.charging_state:
            bisect.insort(self._states, (order, tx.timestamp, tx.charging_state))
        self.rejected = self.rejected or tx.authorized is False
        stamps = [tx.timestamp, *(r.timestamp for r in tx.readings)]
        self.min_stamp = min([*stamps, *([self.min_stamp] if self.min_stamp else [])])
        self.max_timestamp = max(tx.timestamp, self.max_timestamp or tx.timestamp)
        self.max_received = max(tx.received_at, self.max_received or tx.received_at)
        for reading in tx.readings:
            self._merge(reading)

    def _merge(self, r: MeterReading) -> None:
        if r.location not in _LOCATION_RANK:
            return
        phase = _PHASES.get(r.phase or "", r.phase)
        key = (r.measurand, r.location, r.timestamp, phase)
        old = self._readings.get(key)
        if old is not None and old >= r.value:
            return
        self._readings[key] = r.value
        self._locations.setdefault(r.measurand, set()).add(r.location)
        if phase is None and r.measurand in (REGISTER, CURRENT):
            self._stream(r.measurand, r.location).put(r.timestamp, r.value)

    def _stream(self, measurand: str, location: str) -> _Stream:
        stream = self._streams.get((measurand, location))
        if stream is None:
            stream = _Stream(self.policy if measurand == REGISTER else None)
            self._streams[(measurand, location)] = stream
        return stream

    def _best_location(self, measurand: str, extra: Iterable[str] = ()) -> str | None:
        present = self._locations.get(measurand, set()) | set(extra)
        return min(present, key=_LOCATION_RANK.__getitem__, default=None)

    def _all_readings(self, anchors: list[MeterReading]) -> list[MeterReading]:
        merged = [MeterReading(t, m, v, "", phase, location=loc) for (m, loc, t, phase), v in self._readings.items()]
        return merged + anchors

    def state(self, external: Mapping[SessionFlag, str] | None = None) -> SessionState:
        """The same `SessionState` as `derive_state` over every input folded in so far."""
        start = min(self.starts.values(), key=_order, default=None)
        end = min(self.ends.values(), key=lambda tx: (tx.synthetic, _order(tx)), default=None)
        started_at = start.timestamp if start else self.min_stamp
        series, regressions, surges = self._series(start, end, started_at)
        currents = self._currents()
        notes = dict(external or {})
        for flag, note in self._quality_notes(start, end, started_at, series, regressions, surges):
            notes.setdefault(flag, note)
        flags = frozenset(notes)
        registered = series.source in (EnergySource.REGISTER, EnergySource.PHASE_SUM)

        def meta(name: str) -> object:
            own = getattr(start, name) if start is not None else None
            return own if own is not None else self._meta.get(name, (None, None))[1]

        return SessionState(
            station_id=self.station_id, transaction_id=self.transaction_id,
            evse_id=meta("evse_id"), connector_id=meta("connector_id"),  # type: ignore[arg-type]
            id_token=meta("id_token"), driver_id=meta("driver_id"),  # type: ignore[arg-type]
            started_at=started_at, start_received_at=start.received_at if start else None,
            stopped_at=end.timestamp if end else None, stop_received_at=end.received_at if end else None,
            meter_start_wh=series.baseline if registered else None,
            meter_stop_wh=series.last if registered and end else None,
            energy_wh=series.energy_wh, energy_source=series.source, stop_reason=end.stop_reason if end else None,
            idle_from=(_idle_from_sorted_states(self._states) if self._states
                       else idle_from_meter(series, self.policy.idle_power_w)),
            last_meter_at=series.points[-1][0] if series.points else None,
            ended=end is not None, flags=flags, notes=tuple(sorted(notes.items())),
            status=_status(flags, end is not None, self.rejected, series.energy_wh),
            series=series, currents=currents,
        )

    def _series(
        self, start: TxStarted | None, end: TxEnded | None, started_at: datetime | None
    ) -> tuple[EnergySeries, list[str], list[str]]:
        """The billed series, its first regression and its first surge: from the sorted register stream of
        the best location when it has unphased values, else by the reference fallbacks."""
        start_point = (start.timestamp, start.meter_start_wh) if start and start.meter_start_wh is not None else None
        end_point = (end.timestamp, end.meter_stop_wh) if end and end.meter_stop_wh is not None else None
        if start_point or end_point or (REGISTER, "Outlet") in self._streams:
            outlet = self._stream(REGISTER, "Outlet")
            outlet.anchor("start", start_point)
            outlet.anchor("end", end_point)
        location = self._best_location(REGISTER, ["Outlet"] if start_point or end_point else [])
        stream = self._streams.get((REGISTER, location)) if location else None
        if stream is not None and stream.times:
            points = stream.points()
            series = EnergySeries(EnergySource.REGISTER, points, points[0][1])
            first = [stream.regressions[min(stream.regressions)]] if stream.regressions else []
            surge = [stream.surges[min(stream.surges)]] if stream.surges else []
            return series, first, surge
        anchors = [MeterReading(p[0], REGISTER, p[1], "Wh") for p in (start_point, end_point) if p]
        series = build_series(self._all_readings(anchors), started_at)
        regressions, surges = series_anomalies(series, self.policy.max_power_w, self.policy.power_slack_wh)
        return series, regressions[:1], surges[:1]

    def _currents(self) -> tuple[tuple[datetime, Decimal], ...]:
        location = self._best_location(CURRENT)
        if location is None:
            return ()
        stream = self._streams.get((CURRENT, location))
        if stream is not None and stream.times:
            return stream.points()
        return current_series(r for r in self._all_readings([]) if r.measurand == CURRENT)

    def _quality_notes(
        self, start: TxStarted | None, end: TxEnded | None, started_at: datetime | None, series: EnergySeries,
        regressions: list[str], surges: list[str],
    ) -> list[tuple[SessionFlag, str]]:
        """`_quality_notes` of session.py, from the folded facts."""
        notes = [(SessionFlag.CLOCK_SKEW, self._skew[1])] if self._skew else []
        notes += [(SessionFlag.METER_REGRESSION, n) for n in regressions]
        notes += [(SessionFlag.IMPOSSIBLE_POWER, n) for n in surges]
        if end is not None and started_at is not None and end.timestamp < started_at:
            notes.append((SessionFlag.STOP_BEFORE_START, f"stopped {end.timestamp} before {started_at}"))
        if end is not None and start is None:
            notes.append((SessionFlag.MISSING_START, "ended without a start"))
        real_ends = [e for e in self.ends.values() if not e.synthetic]
        if len({(e.timestamp, e.meter_stop_wh) for e in real_ends}) > 1:
            notes.append((SessionFlag.CONFLICTING_STOPS, f"{len(real_ends)} different stops"))
        if end is not None and series.source is EnergySource.NONE:
            notes.append((SessionFlag.NO_METER_DATA, "no energy reading at all"))
        if self.rejected and series.energy_wh > 0:
            notes.append((SessionFlag.UNAUTHORIZED_CHARGING, f"{series.energy_wh} Wh after a rejected token"))
        synthetic = [e for e in self.ends.values() if e.synthetic]
        if synthetic:
            closed = min(synthetic, key=_order)
            notes.append((SessionFlag.STALE_CLOSED, f"closed at {closed.received_at} with no stop"))
        return notes

"""The time-series store on a real database: COPY into each day's partition, and the roll-up fold, checked against
roll-ups computed in Python from the stored raw samples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from processors.monitoring import _timeseries
from processors.monitoring._samplerows import SampleRows
from tests.integration.monitoring import _support as m

pytestmark = pytest.mark.integration
MIDNIGHT = datetime(2026, 3, 11, tzinfo=UTC)


def _meter(station: str, at: datetime, entries: list[tuple[timedelta, list[tuple[str, Any]]]]) -> SampleRows:
    """A SampleRows with one 1.6 MeterValues received at `at`: entries of (offset from `at`, [(measurand, value)])."""
    rows = SampleRows()
    rows.add(station, at, False, "MeterValues", {"connectorId": 1, "transactionId": 5, "meterValue": [
        {"timestamp": (at + offset).isoformat(), "sampledValue": [{"measurand": name, "value": value, "unit": "Wh"}
                                                                 for name, value in values]}
        for offset, values in entries]})
    return rows


def _expected(samples: list[Any], unit: str) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """Roll-ups of raw samples by UTC minute / hour: n, total, min, max, last_ts, last (latest ts, ties: greater)."""
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for s in samples:
        bucket = s.ts.replace(second=0, microsecond=0) if unit == "minute" else s.ts.replace(minute=0, second=0,
                                                                                           microsecond=0)
        groups.setdefault((bucket.astimezone(UTC), s.station_id, s.measurand), []).append(s)
    out = {}
    for key, members in groups.items():
        values = [s.value for s in members]
        last = max(members, key=lambda s: (s.ts, s.value))
        out[key] = (len(values), sum(values), min(values), max(values), last.ts, last.value)
    return out


async def _rollups(conn: Any, table: str) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    rows = await conn.execute(sa.text(f"select * from {table}"))
    return {(r.bucket, r.station_id, r.measurand): (r.n, r.total, r.min, r.max, r.last_ts, r.last) for r in rows}


async def test_samples_land_in_their_day_partitions_and_fold_once_into_utc_minutes_and_hours(fresh_database):
    engine = await m.migrated_engine(fresh_database)
    at = MIDNIGHT - timedelta(seconds=50)
    energy, power = "Energy.Active.Import.Register", "Power.Active.Import"
    batches = [
        # out of order within the message, across a minute, an hour and a day (partition) boundary
        _meter("S", at, [(timedelta(seconds=20), [(energy, "10"), (power, "7")]),
                         (timedelta(seconds=-30), [(energy, "4"), (power, "9")]),
                         (timedelta(seconds=70), [(energy, "30"), (power, "1")])]),
        # a later batch with an older sample for the same minute, and a tie on one timestamp (greater value wins)
        _meter("S", at + timedelta(seconds=90), [(timedelta(seconds=-75), [(energy, "12"), (power, "2"), (power, "8")]),
                                                 (timedelta(seconds=-100), [(energy, "3")])]),
        _meter("T", at, [(timedelta(0), [(energy, 1), (energy, "1e3")])]),
    ]
    try:
        for i, rows in enumerate(batches):
            async with engine.begin() as conn:
                assert await _timeseries.store_samples(conn, rows) == rows.count
            if i == 0:
                async with engine.begin() as conn:
                    # a session in another time zone: the buckets stay UTC minutes and hours
                    await conn.execute(sa.text("select set_config('timezone', 'Asia/Kolkata', true)"))
                    assert await _timeseries.fold_rollups(conn) == (1, 6)
        async with engine.begin() as conn:
            assert await _timeseries.fold_rollups(conn) == (2, 6)
            assert await _timeseries.fold_rollups(conn) == (0, 0)  # each batch is folded once
            per_partition = dict((await conn.execute(sa.text(
                "select tableoid::regclass::text, count(*) from meter_samples group by 1"))).all())
            assert per_partition == {"meter_samples_p20260310": 10, "meter_samples_p20260311": 2}
            samples = (await conn.execute(sa.text("select * from meter_samples"))).all()
            assert await _rollups(conn, "meter_rollup_1m") == _expected(samples, "minute")
            assert await _rollups(conn, "meter_rollup_1h") == _expected(samples, "hour")
            spans = (await conn.execute(sa.text(
                "select station_id, register_min_wh, register_max_wh from sessions order by 1"))).all()
            assert [tuple(r) for r in spans] == [("S", 3.0, 30.0), ("T", 1.0, 1000.0)]
    finally:
        await engine.dispose()

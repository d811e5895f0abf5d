"""Benchmark: a daily report over 30 days of a synthetic 1,000-station fleet (pre-aggregated tables).

    uv run python -m bench.monitoring_report [--stations 1000] [--days 30]

Fills a fresh monitoring store (test PostgreSQL) with one `daily_station_stats` row per station and day, two
connectors per station in `daily_connector_stats`, 8 priced sessions per station and day in `revenue_sessions`,
stations spread over 50 sites and 5 operators; then times `queries.report` by station/day, site/week and
operator/month, and `stations_at_risk`.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, date, datetime, timedelta

import asyncpg
import sqlalchemy as sa

from processors.monitoring import queries
from tests import infra
from tests.integration.monitoring import _support

_FILL = """
insert into station_state (station_id, site_id, operator_id, connected)
select 'S' || i, 'site-' || (i % 50), 'op-' || (i % 5), false
from generate_series(1, cast(:n as int)) i;
insert into connector_state (station_id, evse_id, connector_id, status, status_since, updated_at)
select 'S' || i, c, c, 'Available', now(), now()
from generate_series(1, cast(:n as int)) i, generate_series(1, 2) c;
insert into daily_station_stats (station_id, day, energy_wh, sessions, failed_sessions, uptime_s, errors, boots,
                                 disconnections)
select 'S' || i, cast(:start as date) + d, 20000 + random() * 100000, 8, (random() < 0.1)::int,
       86400 * (0.9 + random() * 0.1),
       (random() * 3)::int, (random() < 0.05)::int, (random() * 2)::int
from generate_series(1, cast(:n as int)) i, generate_series(0, cast(:days as int) - 1) d;
insert into daily_connector_stats
select 'S' || i, c, c, cast(:start as date) + d, 20000 + random() * 20000, 15000 + random() * 5000
from generate_series(1, cast(:n as int)) i, generate_series(1, 2) c, generate_series(0, cast(:days as int) - 1) d;
insert into revenue_sessions
select 'sess-' || i || '-' || d || '-' || k, 'S' || i, 'EUR', round((5 + random() * 30)::numeric, 2), true,
       (cast(:start as date) + d)::timestamptz + interval '1 hour' * k, null
from generate_series(1, cast(:n as int)) i, generate_series(0, cast(:days as int) - 1) d, generate_series(1, 8) k;
analyze
"""


async def main(stations: int, days: int) -> None:
    started = await asyncio.to_thread(infra.start)
    name = infra.unique("rbench_")
    admin = await asyncpg.connect(started.database_url("postgres"))
    await admin.execute(f'create database "{name}"')
    await admin.close()
    engine = await _support.migrated_engine(started.database_url(name))
    start = date(2026, 1, 1)
    end = start + timedelta(days=days)
    try:
        async with engine.begin() as conn:
            t0 = time.perf_counter()
            for statement in _FILL.split(";"):
                params = {k: v for k, v in {"n": stations, "days": days, "start": start}.items()
                          if f":{k}" in statement}
                await conn.execute(sa.text(statement), params)
            print(f"filled {stations} stations x {days} days in {time.perf_counter() - t0:.1f}s")
        now = datetime.combine(end, datetime.min.time(), UTC)
        async with engine.connect() as conn:
            for group_by, period in (("station", "day"), ("site", "week"), ("operator", "month")):
                best = float("inf")
                for _ in range(3):
                    t = time.perf_counter()
                    rows = await queries.report(conn, start, end, group_by=group_by, period=period, now=now)
                    csv_text = queries.report_csv(rows)
                    best = min(best, time.perf_counter() - t)
                print(f"report by {group_by}/{period} over {days} days: {len(rows):,} rows, {len(csv_text):,} bytes "
                      f"of CSV in {best:.2f}s (best of 3, including CSV)")
            t = time.perf_counter()
            risk = await queries.stations_at_risk(conn, today=end - timedelta(days=1))
            print(f"stations_at_risk over {stations} stations: {len(risk)} rows in {time.perf_counter() - t:.2f}s")
    finally:
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.stations, args.days))

"""Time partitions of the time-series tables: created ahead (and on demand for late data), dropped after retention.

    meter_samples    daily partitions on `ts`      kept `raw_retention_days`
    meter_rollup_1m  daily partitions on `bucket`  kept `rollup_1m_retention_days`
    meter_rollup_1h  monthly partitions on `bucket` kept for ever (small: one row per series and hour)

Dropping a partition is instant and leaves no bloat, unlike `delete`; that is why raw data is partitioned.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

MONTHLY = frozenset({"meter_rollup_1h"})
TABLES = ("meter_samples", "meter_rollup_1m", "meter_rollup_1h")
_LOCK = zlib.crc32(b"csms-monitoring-partitions")


def period_start(day: date, table: str) -> date:
    """First day of the partition of `table` holding `day`."""
    return day.replace(day=1) if table in MONTHLY else day


def period_end(start: date, table: str) -> date:
    """First day after the partition starting at `start`."""
    if table not in MONTHLY:
        return start + timedelta(days=1)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def partition_name(table: str, start: date) -> str:
    """e.g. meter_samples_p20261128, meter_rollup_1h_p202611."""
    return f"{table}_p{start:%Y%m}" if table in MONTHLY else f"{table}_p{start:%Y%m%d}"


async def ensure_partitions(conn: AsyncConnection, table: str, days: Iterable[date]) -> list[str]:
    """Create the partitions of `table` covering `days` that do not exist yet; returns the names created."""
    return await _ensure(conn, {partition_name(table, s): (table, s) for s in {period_start(d, table) for d in days}})


async def ensure_all_partitions(conn: AsyncConnection, days: Iterable[date]) -> list[str]:
    """`ensure_partitions` for every time-series table, in one round trip when they all exist (the usual case)."""
    days = set(days)
    starts = {(t, period_start(d, t)) for t in TABLES for d in days}
    return await _ensure(conn, {partition_name(t, s): (t, s) for t, s in starts})


async def _ensure(conn: AsyncConnection, wanted: dict[str, tuple[str, date]]) -> list[str]:
    result = await conn.execute(
        sa.text("select n from unnest(cast(:names as text[])) n where to_regclass(n) is null"),
        {"names": sorted(wanted)},
    )
    missing = [row[0] for row in result]
    if not missing:
        return []
    # two consumers creating the same partition at once would fail on the catalog's unique index
    await conn.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    for name in missing:
        table, start = wanted[name]
        end = period_end(start, table)
        await conn.execute(sa.text(
            f"create table if not exists {name} partition of {table} "
            f"for values from ('{start.isoformat()} 00:00:00+00') to ('{end.isoformat()} 00:00:00+00')"))
    return missing


async def list_partitions(conn: AsyncConnection, table: str) -> list[tuple[str, date]]:
    """The partitions of `table` with their first day, oldest first."""
    result = await conn.execute(sa.text(
        "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
        "join pg_class p on p.oid = i.inhparent where p.relname = :t"), {"t": table})
    out = []
    for (name,) in result:
        suffix = name.rsplit("_p", 1)[-1]
        fmt = "%Y%m" if table in MONTHLY else "%Y%m%d"
        try:
            out.append((name, datetime.strptime(suffix, fmt).date()))
        except ValueError:
            continue  # not one of ours
    return sorted(out, key=lambda item: item[1])


async def drop_partitions_before(conn: AsyncConnection, table: str, cutoff: date) -> list[str]:
    """Drop partitions of `table` that end on or before `cutoff` (retention); returns the names dropped."""
    dropped = []
    for name, start in await list_partitions(conn, table):
        if period_end(start, table) <= cutoff:
            await conn.execute(sa.text(f"drop table if exists {name}"))
            dropped.append(name)
    return dropped


async def maintain(conn: AsyncConnection, today: date, *, ahead_days: int, raw_retention_days: int,
                   rollup_1m_retention_days: int) -> dict[str, list[str]]:
    """Create partitions from yesterday to `ahead_days` ahead and drop those past retention."""
    days = [today + timedelta(days=i) for i in range(-1, ahead_days + 1)]
    created = [name for table in TABLES for name in await ensure_partitions(conn, table, days)]
    dropped = await drop_partitions_before(conn, "meter_samples", today - timedelta(days=raw_retention_days))
    dropped += await drop_partitions_before(conn, "meter_rollup_1m", today - timedelta(days=rollup_1m_retention_days))
    return {"created": created, "dropped": dropped}

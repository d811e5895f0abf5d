"""The hot path: sampled values into `meter_samples` with COPY; roll-ups folded from them after the batch commits.

In the runtime's batch transaction (exactly once, with the dedupe records and offsets):
    the rows (_samplerows.SampleRows, by the rules of domain/samples.py) are COPYed into each day's `meter_samples`
    partition as one binary stream, their `batch_id` defaulting to the transaction's id; one
    `meter_pending_batches` row records that this batch is not rolled up yet; the sessions' register span
    (min / max Energy.Active.Import.Register in Wh) is upserted from a per-batch aggregate made in Python.
Then `fold_rollups` (service.py, every `rollup_every_s`, and once more on stop), in its own transaction: deletes
    pending-batch rows and aggregates exactly those batches' samples into the 1-minute roll-ups, and those minutes
    into the 1-hour roll-ups. A batch is folded once because its pending row is deleted in the transaction that
    folds it. Folding many batches at once turns one roll-up upsert per series and batch (the former cost of
    ingest) into one per series and fold.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from processors.monitoring import _copy
from processors.monitoring._samplerows import SampleRows
from processors.monitoring.domain.samples import DEFAULT_MEASURAND, Reading
from processors.monitoring.partitions import ensure_all_partitions, partition_name

_FOLD_LOCK = zlib.crc32(b"csms-monitoring-rollup-fold")

_PENDING = sa.text("""
insert into meter_pending_batches as p (batch_id, min_ts, max_ts) values (txid_current(), :lo, :hi)
on conflict (batch_id) do update set min_ts = least(p.min_ts, excluded.min_ts), max_ts = greatest(p.max_ts,
                                                                                                  excluded.max_ts)""")

_REGISTERS = sa.text("""
insert into sessions as s (station_id, transaction_id, evse_id, connector_id, register_min_wh, register_max_wh)
select * from unnest(cast(:station as text[]), cast(:tx as text[]), cast(:evse as int[]), cast(:conn as int[]),
                     cast(:lo as float8[]), cast(:hi as float8[]))
on conflict (station_id, transaction_id) do update set
    register_min_wh = least(s.register_min_wh, excluded.register_min_wh),
    register_max_wh = greatest(s.register_max_wh, excluded.register_max_wh),
    evse_id = coalesce(s.evse_id, excluded.evse_id), connector_id = coalesce(s.connector_id, excluded.connector_id)""")

_TOUCH = sa.text("""
insert into station_state as s (station_id, last_message_at)
select st, max(t) from unnest(cast(:station_id as text[]), cast(:at as timestamptz[])) as x(st, t) group by st
on conflict (station_id) do update set last_message_at = greatest(s.last_message_at, excluded.last_message_at)
""")

_TAKE_PENDING = sa.text("""
delete from meter_pending_batches
where batch_id in (select batch_id from meter_pending_batches order by batch_id limit :limit)
returning batch_id, min_ts, max_ts""")

# merging a fold's groups into the stored ones; `last` is the value at the latest `ts` (ties: the greater value)
_MERGE = """
        on conflict (station_id, evse_id, connector_id, measurand, phase, unit, bucket) do update set
            n = r.n + excluded.n, total = r.total + excluded.total,
            min = least(r.min, excluded.min), max = greatest(r.max, excluded.max),
            last = case when excluded.last_ts >= r.last_ts then excluded.last else r.last end,
            last_ts = greatest(r.last_ts, excluded.last_ts)"""
_COLUMNS = "bucket, station_id, evse_id, connector_id, measurand, phase, unit, n, total, min, max, last_ts, last"

# One pass over the batches' samples (`ts between` prunes partitions, `batch_id = any` picks the batches' rows, BRIN
# on both) into 1-minute groups by hashing (the latest value rides in max(array[epoch, value]): no sort); the hours
# are folded from the minutes. Buckets are UTC (date_bin from a UTC origin), whatever the session's time zone.
_FOLD = sa.text(f"""
with minutes as materialized (
    select date_bin('1 minute', ts, timestamptz '2000-01-01 00:00:00+00') as bucket, station_id, evse_id,
           connector_id, measurand, coalesce(phase, '') as phase, coalesce(unit, '') as unit, count(*) as n,
           sum(value) as total, min(value) as min, max(value) as max, max(ts) as last_ts,
           (max(array[date_part('epoch', ts), value]))[2] as last
    from meter_samples
    where ts between :lo and :hi and batch_id between :first and :last and batch_id = any(cast(:ids as bigint[]))
    group by 1, 2, 3, 4, 5, 6, 7),
to_minutes as (
    insert into meter_rollup_1m as r ({_COLUMNS})
    select {_COLUMNS} from minutes
    {_MERGE}),
to_hours as (
    insert into meter_rollup_1h as r ({_COLUMNS})
    select date_bin('1 hour', bucket, timestamptz '2000-01-01 00:00:00+00'), station_id, evse_id, connector_id,
           measurand, phase, unit, sum(n), sum(total), min(min), max(max), max(last_ts),
           (max(array[date_part('epoch', last_ts), last]))[2]
    from minutes group by 1, 2, 3, 4, 5, 6, 7
    {_MERGE})
select coalesce(sum(n), 0) from minutes""")


async def touch_stations(conn: AsyncConnection, last_seen: Mapping[str, datetime]) -> None:
    """Record the latest frame received from each station (the no-heartbeat rule's input)."""
    if last_seen:
        ids = sorted(last_seen)
        await conn.execute(_TOUCH, {"station_id": ids, "at": [last_seen[s] for s in ids]})


def register_spans(readings: Sequence[Reading]) -> dict[tuple[str, str], list[Any]]:
    """Per (station, transaction): [min evse, min connector, min Wh, max Wh] of the energy register values (the
    generic path; SampleRows.spans must equal it)."""
    spans: dict[tuple[str, str], list[Any]] = {}
    for _, _, _, station, evse, connector, tx, values in readings:
        if tx is None:
            continue
        for measurand, _, _, unit, _, value in values:
            if measurand != DEFAULT_MEASURAND or unit != "Wh":
                continue
            span = spans.get((station, tx))
            if span is None:
                spans[(station, tx)] = [evse, connector, value, value]
            else:
                span[0], span[1] = min(span[0], evse), min(span[1], connector)
                span[2], span[3] = min(span[2], value), max(span[3], value)
    return spans


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def store_samples(conn: AsyncConnection, rows: SampleRows) -> int:
    """Store sampled values (COPY into each day's partition), mark the batch for the roll-up fold, widen sessions'
    register spans."""
    if not rows.count or rows.lo is None or rows.hi is None:
        return 0
    streams = rows.streams()
    await ensure_all_partitions(conn, streams)
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    for day, stream in sorted(streams.items()):
        # into the partition itself: no per-row routing (PostgreSQL still checks the partition's bounds)
        await driver.copy_to_table(partition_name("meter_samples", day), source=_once(stream), columns=_copy.COLUMNS,
                                   format="binary")
    await conn.execute(_PENDING, {"lo": rows.lo, "hi": rows.hi})
    spans = rows.spans
    if spans:
        keys = list(spans)
        await conn.execute(_REGISTERS, {
            "station": [k[0] for k in keys], "tx": [k[1] for k in keys], "evse": [spans[k][0] for k in keys],
            "conn": [spans[k][1] for k in keys], "lo": [spans[k][2] for k in keys],
            "hi": [spans[k][3] for k in keys]})
    return rows.count


async def fold_rollups(conn: AsyncConnection, *, max_batches: int = 500) -> tuple[int, int]:
    """Roll up the samples of up to `max_batches` stored batches; returns (batches, samples) folded. One folder
    at a time per store (advisory lock); (0, 0) when another holds it or nothing is pending."""
    locked = (await conn.execute(sa.text("select pg_try_advisory_xact_lock(:k)"), {"k": _FOLD_LOCK})).scalar_one()
    if not locked:
        return 0, 0
    pending = (await conn.execute(_TAKE_PENDING, {"limit": max_batches})).all()
    if not pending:
        return 0, 0
    ids = [row.batch_id for row in pending]
    # never a sequential scan of the raw partitions, hash aggregation (the statistics of partitions being filled
    # say "few rows", which would pick a sort), in memory; no JIT compilation for a statement run every few seconds
    await conn.execute(sa.text("select set_config('enable_seqscan', 'off', true), set_config('enable_sort', 'off', "
                               "true), set_config('work_mem', '64MB', true), set_config('jit', 'off', true)"))
    result = await conn.execute(_FOLD, {"ids": ids, "first": min(ids), "last": max(ids),
                                        "lo": min(row.min_ts for row in pending),
                                        "hi": max(row.max_ts for row in pending)})
    return len(ids), int(result.scalar_one())

"""The hot path: sampled values into `meter_samples`, roll-ups and session register spans, set-based in SQL.

Python stages ONE row per message (station, receive time, version, action, request JSON) with COPY into a
temporary table; one statement then explodes `meterValue[].sampledValue[]` (or 1.6 `transactionData`), normalises
each value (numeric only; 2.x multiplier; kWh/kW... scaled to Wh/W...; measurand default
Energy.Active.Import.Register), picks the trusted time (the charger's clock when within the trust window of the
edge's receive time, like domain.health.trusted_time), and inserts the samples, the 1-minute and 1-hour roll-ups
and the sessions' register span. PostgreSQL parses the JSON in C on its own core, so the processor's one Python
thread only decodes Avro. All of it is inside the runtime's batch transaction: a redelivered batch changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from processors.monitoring.domain.health import TRUST_FUTURE, TRUST_PAST
from processors.monitoring.partitions import TABLES, ensure_partitions

STAGING = "monitoring_meter_staging"
STAGING_COLUMNS = ("station_id", "received_at", "v2", "action", "request")
_CREATE_STAGING = sa.text(f"""
create temporary table if not exists {STAGING} (
    station_id text not null, received_at timestamptz not null, v2 boolean not null, action text not null,
    request jsonb not null
) on commit delete rows""")

_ISO = r"'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$'"
_NUMBER = r"'^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$'"
_ROLLUP = """
    {name} as (
        insert into {table} as r (bucket, station_id, evse_id, connector_id, measurand, phase, unit, n, total, min,
                                  max, last_ts, last)
        select date_trunc('{unit}', ts), station_id, evse_id, connector_id, measurand, coalesce(phase, ''),
               coalesce(unit, ''), count(*), sum(value), min(value), max(value), max(ts),
               (array_agg(value order by ts desc))[1]
        from samples group by 1, 2, 3, 4, 5, 6, 7
        on conflict (station_id, evse_id, connector_id, measurand, phase, unit, bucket) do update set
            n = r.n + excluded.n, total = r.total + excluded.total,
            min = least(r.min, excluded.min), max = greatest(r.max, excluded.max),
            last = case when excluded.last_ts >= r.last_ts then excluded.last else r.last end,
            last_ts = greatest(r.last_ts, excluded.last_ts))"""

_INGEST = sa.text(f"""
with readings as (
    select st.station_id, st.received_at, st.v2,
           case when st.action = 'MeterValues' and st.v2 then coalesce((st.request->>'evseId')::int, 0)
                when st.action = 'MeterValues' then coalesce((st.request->>'connectorId')::int, 0)
                when st.action = 'TransactionEvent' then coalesce((st.request->'evse'->>'id')::int, 0)
                else 0 end as evse_id,
           case when st.action = 'MeterValues' and not st.v2 then coalesce((st.request->>'connectorId')::int, 0)
                when st.action = 'TransactionEvent' then coalesce((st.request->'evse'->>'connectorId')::int, 0)
                else 0 end as connector_id,
           case when st.action = 'TransactionEvent' then st.request->'transactionInfo'->>'transactionId'
                else st.request->>'transactionId' end as transaction_id,
           mv.value as mv
    from {STAGING} st
    cross join lateral jsonb_array_elements(case
        when st.action = 'StopTransaction' and jsonb_typeof(st.request->'transactionData') = 'array'
            then st.request->'transactionData'
        when jsonb_typeof(st.request->'meterValue') = 'array' then st.request->'meterValue'
        else '[]'::jsonb end) mv
),
raw as (
    select r.*, case when r.mv->>'timestamp' ~ {_ISO} then (r.mv->>'timestamp')::timestamptz end as charger_ts,
           sv.value as sv, coalesce(sv.value->>'measurand', 'Energy.Active.Import.Register') as measurand,
           case when r.v2 then sv.value->'unitOfMeasure'->>'unit' else sv.value->>'unit' end as given_unit,
           case when r.v2 then coalesce((sv.value->'unitOfMeasure'->>'multiplier')::int, 0) else 0 end as mult
    from readings r
    cross join lateral jsonb_array_elements(case when jsonb_typeof(r.mv->'sampledValue') = 'array'
                                                 then r.mv->'sampledValue' else '[]'::jsonb end) sv
    where sv.value->>'value' ~ {_NUMBER}
),
samples as materialized (
    select case when charger_ts between received_at - cast(:past as interval) and received_at + cast(:ahead as interval)
                then charger_ts else received_at end as ts,
           received_at, charger_ts, station_id, evse_id, connector_id, transaction_id, measurand,
           sv->>'phase' as phase, sv->>'location' as location,
           case given_unit when 'kWh' then 'Wh' when 'kW' then 'W' when 'kvarh' then 'varh' when 'kvar' then 'var'
                when 'kVA' then 'VA' else coalesce(given_unit, case when measurand like 'Energy%' then 'Wh' end)
           end as unit,
           sv->>'context' as context,
           (sv->>'value')::float8 * power(10::float8, mult)
               * case when given_unit in ('kWh', 'kW', 'kvarh', 'kvar', 'kVA') then 1000 else 1 end as value
    from raw
),
inserted as (
    insert into meter_samples (ts, received_at, charger_ts, station_id, evse_id, connector_id, transaction_id,
                               measurand, phase, location, unit, context, value)
    select ts, received_at, charger_ts, station_id, evse_id, connector_id, transaction_id, measurand, phase,
           location, unit, context, value from samples),
{_ROLLUP.format(name="minutes", table="meter_rollup_1m", unit="minute")},
{_ROLLUP.format(name="hours", table="meter_rollup_1h", unit="hour")},
registers as (
    insert into sessions as s (station_id, transaction_id, evse_id, connector_id, register_min_wh, register_max_wh)
    select station_id, transaction_id, min(evse_id), min(connector_id), min(value), max(value) from samples
    where transaction_id is not null and measurand = 'Energy.Active.Import.Register' and unit = 'Wh'
    group by station_id, transaction_id
    on conflict (station_id, transaction_id) do update set
        register_min_wh = least(s.register_min_wh, excluded.register_min_wh),
        register_max_wh = greatest(s.register_max_wh, excluded.register_max_wh),
        evse_id = coalesce(s.evse_id, excluded.evse_id), connector_id = coalesce(s.connector_id, excluded.connector_id))
select count(*) from samples""")

_TOUCH = sa.text("""
insert into station_state as s (station_id, last_message_at)
select st, max(t) from unnest(cast(:station_id as text[]), cast(:at as timestamptz[])) as x(st, t) group by st
on conflict (station_id) do update set last_message_at = greatest(s.last_message_at, excluded.last_message_at)
""")


async def touch_stations(conn: AsyncConnection, last_seen: Mapping[str, datetime]) -> None:
    """Record the latest frame received from each station (the no-heartbeat rule's input)."""
    if last_seen:
        ids = sorted(last_seen)
        await conn.execute(_TOUCH, {"station_id": ids, "at": [last_seen[s] for s in ids]})


async def store_readings(conn: AsyncConnection, rows: Sequence[tuple[str, datetime, bool, str, str]]) -> int:
    """Store the sampled values of (station, received_at, is 2.x, action, request JSON) rows; returns how many."""
    if not rows:
        return 0
    received = [r[1] for r in rows]
    first, last = min(received) - TRUST_PAST, max(received) + TRUST_FUTURE
    days = [(first + timedelta(days=i)).date() for i in range((last.date() - first.date()).days + 1)]
    for table in TABLES:
        await ensure_partitions(conn, table, days)
    await conn.execute(_CREATE_STAGING)
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_records_to_table(STAGING, records=rows, columns=STAGING_COLUMNS)
    result = await conn.execute(_INGEST, {"past": TRUST_PAST, "ahead": TRUST_FUTURE})
    return int(result.scalar_one())

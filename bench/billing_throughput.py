"""Benchmark: the billing processor on the real broker and database (tests/infra.py, started if needed).

    uv run python -m bench.billing_throughput [--sessions 2000] [--meter-values 25] [--batch 5000] [--cold-stops]

Three phases, each produced first while the processor is stopped (or held back, see below), then timed from the
first applied batch to the last (steady state) with the processor consuming from its stored offsets:

1. starts: one OCPP 1.6 StartTransaction per session (not timed; it pins the operator-default tariff);
2. meter values: `--meter-values` MeterValues per session, each as the edge publishes it (the charger's CALL
   and the edge's CALLRESULT carrying the request: two records, of which the CALLRESULT is applied);
3. session ends: one StopTransaction per session: applied, priced with the pinned tariff, an ad-hoc invoice
   issued with a gapless number, stored, and SessionEnded/SessionPriced/InvoiceIssued + state emitted.
   By default the processor of phase 2 keeps running (its sessions in memory, as in production, where a stop
   comes to the process that saw the session's meter values); a lock on billing_sessions holds its batches
   back while the stops are produced. `--cold-stops` restarts it instead, so every session is read back from
   the store first (what the first batches after a restart pay).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from csms.kafka import make_producer
from csms.settings import KafkaSettings
from processors.billing.bootstrap import run
from processors.billing.settings import BillingSettings
from schemas import AvroCodec
from tests import infra
from tests.integration.billing import _support

CODEC = AvroCodec()
TARIFF = {"id": "BENCH", "currency": "EUR", "vat_percent": "19", "elements": [
    {"price_components": [{"type": "FLAT", "price": "0.50"}]},
    {"price_components": [{"type": "ENERGY", "price": "0.40", "step_size": 1}],
     "restrictions": {"start_time": "06:00", "end_time": "22:00"}},
    {"price_components": [{"type": "ENERGY", "price": "0.30"}, {"type": "TIME", "price": "1.20", "step_size": 60}]}]}


def _record(station: str, action: str, request: dict[str, Any], answer: dict[str, Any], at: datetime) -> list[tuple]:
    common = {"station_id": station, "edge_id": "edge-1", "connection_id": "c1", "ocpp_version": "ocpp1.6",
              "message_id": uuid.uuid4().hex[:12], "action": action, "received_at": at, "sequence": 0}
    out = []
    for direction, kind, extra in (("CHARGER_TO_CSMS", "CALL", {"payload_json": orjson.dumps(request).decode()}),
                                   ("CSMS_TO_CHARGER", "CALLRESULT", {
                                       "payload_json": orjson.dumps(answer).decode(),
                                       "request_payload_json": orjson.dumps(request).decode()})):
        event_id = str(uuid.uuid4())
        value = {**common, **extra, "direction": direction, "message_type": kind, "event_id": event_id}
        headers = CODEC.headers("csms.ocpp.OcppMessage", event_id)
        headers += [("ocpp_type", kind.encode()), ("ocpp_action", action.encode())]  # as the edge adds them
        out.append((station, CODEC.encode("csms.ocpp.OcppMessage", value), headers))
    return out


async def produce(kafka: KafkaSettings, records: list[tuple]) -> None:
    producer = make_producer(kafka, linger_ms=20)
    await producer.start()
    try:
        pending = []
        for key, value, headers in records:
            pending.append(await producer.send(kafka.topic_prefix + "ocpp.messages", value, key=key.encode(),
                                               headers=headers))
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def count(url: str, sql: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def measure(url: str, sql: str, target: int, release: Callable[[], Awaitable[None]] | None = None,
                  ) -> tuple[float, int]:
    """Wait until `sql` counts `target`; returns (seconds from the first applied batch, count then)."""
    before = first = await count(url, sql)
    if release is not None:
        await release()
    while first == before:
        await asyncio.sleep(0.05)
        first = await count(url, sql)
    started = time.perf_counter()
    done = first
    while done < target:
        await asyncio.sleep(0.05)
        done = await count(url, sql)
    return time.perf_counter() - started, first - before


async def timed_phase(settings: BillingSettings, url: str, sql: str, target: int) -> tuple[float, int]:
    """Start the processor (a cold cache), run it until `sql` counts `target`, stop it."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop))
    try:
        return await measure(url, sql, target)
    finally:
        stop.set()
        await task


class Gate:
    """Holds the processor's next batch back (a lock on billing_sessions, which every OCPP batch row-locks)
    while a phase is produced, so a processor that keeps running, with its sessions in memory, meets a backlog."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: asyncpg.Connection | None = None

    async def close(self) -> None:
        self.conn = await asyncpg.connect(self.url)
        await self.conn.execute("begin; lock table billing_sessions in exclusive mode")

    async def open(self) -> None:
        assert self.conn is not None
        await self.conn.execute("commit")
        await self.conn.close()


async def main_async(started: infra.Infra, sessions: int, meter_values: int, batch: int, cold_stops: bool,
                     ) -> None:
    kafka = KafkaSettings(bootstrap=started.bootstrap, topic_prefix=infra.unique("bench") + ".")
    name = infra.unique("bench_billing_")
    admin = await asyncpg.connect(started.database_url("postgres"))
    await admin.execute(f'create database "{name}"')
    await admin.close()
    url = started.database_url(name)
    settings = BillingSettings(database_url=url, kafka=kafka, max_batch=batch, log_level="WARNING",
                               housekeeping_interval_s=3600)
    await _support.create_topics(kafka)
    async with _support.billing(kafka, url, max_batch=batch) as p:  # tariff set up, not timed
        await p.command("CreateTariff", TARIFF, "BENCH")
        await p.command("AssignTariff", {"scope": "OPERATOR_DEFAULT", "key": "", "tariff_id": "BENCH"}, "BENCH")
        await _support.until(url, "select 1 from billing_tariff_assignments")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    stations = [f"B{i:05d}" for i in range(sessions)]
    starts = [r for i, st in enumerate(stations) for r in _record(
        st, "StartTransaction", {"connectorId": 1, "idTag": "ADHOC", "meterStart": 0, "timestamp": t0.isoformat()},
        {"transactionId": i + 1, "idTagInfo": {"status": "Accepted"}}, t0)]
    await produce(kafka, starts)
    await timed_phase(settings, url, "select count(*) from billing_sessions", sessions)

    meters = []
    for k in range(1, meter_values + 1):
        at = t0 + timedelta(minutes=k)
        for i, st in enumerate(stations):
            sampled = [{"value": str(k * 180), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                       {"value": "16", "measurand": "Current.Import", "unit": "A"}]
            mv = {"connectorId": 1, "transactionId": i + 1,
                  "meterValue": [{"timestamp": at.isoformat(), "sampledValue": sampled}]}
            meters += _record(st, "MeterValues", mv, {}, at)
    t = time.perf_counter()
    await produce(kafka, meters)
    print(f"produced {len(meters)} records ({len(meters) // 2} MeterValues) in {time.perf_counter() - t:.1f}s")
    n_meter = sessions * meter_values
    stop = asyncio.Event()
    processor = asyncio.create_task(run(settings, stop))  # a cold start: every session is read from the store
    elapsed, first = await measure(url, "select count(*) from billing_session_inputs", sessions + n_meter)
    rate = (n_meter - first) / elapsed
    print(f"meter values: {n_meter} applied, steady state {rate:,.0f} MeterValues/s "
          f"({2 * rate:,.0f} ocpp.messages records/s; batch {batch}, after the first {first})")
    if cold_stops:
        stop.set()
        await processor
    else:  # the processor keeps running, its sessions in memory, as in production between a start and its stop
        gate = Gate(url)
        await gate.close()

    end_at = t0 + timedelta(minutes=meter_values + 5)
    stops = [r for i, st in enumerate(stations) for r in _record(
        st, "StopTransaction", {"transactionId": i + 1, "meterStop": meter_values * 180 + 50,
                                "timestamp": end_at.isoformat(), "reason": "EVDisconnected"}, {}, end_at)]
    await produce(kafka, stops)
    sql = "select count(*) from billing_sessions where invoice_id is not null"
    if cold_stops:
        elapsed, first = await timed_phase(settings, url, sql, sessions)
    else:
        elapsed, first = await measure(url, sql, sessions, release=gate.open)
        stop.set()
        await processor
    rate = (sessions - first) / elapsed
    invoices = await count(url, "select count(*) from billing_invoices")
    top = await count(url, "select max(seq) from billing_invoices")
    print(f"session ends ({'cold: processor restarted' if cold_stops else 'warm: sessions in memory'}): "
          f"{sessions} priced, invoiced and stored, steady state {rate:,.0f} ends/s "
          f"(after the first {first}); invoices {invoices}, highest number {top} (gapless: {invoices == top})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--meter-values", type=int, default=25)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--cold-stops", action="store_true",
                        help="restart the processor before the stops (every session is read back from the store)")
    args = parser.parse_args()
    asyncio.run(main_async(infra.start(), args.sessions, args.meter_values, args.batch, args.cold_stops))


if __name__ == "__main__":
    main()

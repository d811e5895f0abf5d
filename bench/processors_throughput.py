"""Benchmark: OCPP events/s the stations and authorization processors apply from `ocpp.messages`.

    uv run python -m bench.processors_throughput [--stations 1000] [--events 200000] [--batch 5000]

Uses the test broker and database (tests/infra.py, started if needed). Produces a realistic mix to a fresh
`ocpp.messages` (each charger frame and the edge's answer are two events): one BootNotification per station, then
StatusNotification (40 %), Heartbeat (30 %), MeterValues (25 %) and Authorize (5 %) exchanges. Then runs each
processor in-process from offset 0 into its own fresh database and reports events/s, measured from the first
applied batch to the last (the group join and migrations are not counted). Every event goes through the full
runtime path: dedupe record, effects, outbox rows and offsets in one transaction per batch.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson

from csms.kafka import apply_topics, make_producer
from csms.settings import KafkaSettings
from processors import authorization, stations
from processors.runtime import ProcessorSettings, ProcessorSpec, Running, serve
from schemas import AvroCodec, load_topics
from tests import infra

STATUSES = ["Available", "Preparing", "Charging", "SuspendedEV", "Finishing"]
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _frame(station: str, direction: str, kind: str, action: str, payload: dict, request: dict | None,
           at: datetime, mid: str, seq: int) -> dict:
    return {"event_id": str(uuid.uuid4()), "station_id": station, "edge_id": "bench", "connection_id": station,
            "ocpp_version": "ocpp1.6", "direction": direction, "message_type": kind, "message_id": mid,
            "action": action, "payload_json": orjson.dumps(payload).decode(), "error_code": None,
            "error_description": None, "error_details_json": None, "charger_timestamp": None, "received_at": at,
            "sequence": seq, "in_reply_to": None, "command_id": None,
            "request_payload_json": orjson.dumps(request).decode() if request is not None else None}


def exchanges(n_stations: int, n_events: int) -> list[tuple[str, str, dict, dict]]:
    """(station, action, request, answer) for n_events / 2 exchanges, boots first."""
    rng = random.Random(1)
    out = [(f"B-{i}", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"},
            {"status": "Accepted", "interval": 300, "currentTime": "2026-03-01T00:00:00Z"}) for i in range(n_stations)]
    while len(out) * 2 < n_events:
        station, r = f"B-{rng.randrange(n_stations)}", rng.random()
        if r < 0.40:
            out.append((station, "StatusNotification", {"connectorId": rng.randrange(1, 3),
                                                        "status": rng.choice(STATUSES), "errorCode": "NoError"}, {}))
        elif r < 0.70:
            out.append((station, "Heartbeat", {}, {"currentTime": "2026-03-01T00:00:00Z"}))
        elif r < 0.95:
            out.append((station, "MeterValues", {"connectorId": 1, "meterValue": [
                {"timestamp": "2026-03-01T00:00:00Z", "sampledValue": [{"value": str(rng.randrange(10**6))}]}]}, {}))
        else:
            out.append((station, "Authorize", {"idTag": f"TAG{rng.randrange(500)}"},
                        {"idTagInfo": {"status": "Accepted"}}))
    return out


async def produce(kafka: KafkaSettings, n_stations: int, n_events: int) -> int:
    codec = AvroCodec()
    producer = make_producer(kafka, linger_ms=20)
    await producer.start()
    topic, count, pending = kafka.topic_prefix + "ocpp.messages", 0, []
    try:
        for i, (station, action, request, answer) in enumerate(exchanges(n_stations, n_events)):
            at, mid = T0 + timedelta(milliseconds=i), f"m{i}"
            for frame in (_frame(station, "CHARGER_TO_CSMS", "CALL", action, request, None, at, mid, 2 * i),
                          _frame(station, "CSMS_TO_CHARGER", "CALLRESULT", action, answer, request, at, mid,
                                 2 * i + 1)):
                data = codec.encode("csms.ocpp.OcppMessage", frame)
                headers = [*codec.headers("csms.ocpp.OcppMessage", frame["event_id"]),  # as the edge sends them
                           ("ocpp_type", frame["message_type"].encode()), ("ocpp_action", action.encode())]
                pending.append(await producer.send(topic, data, key=station.encode(), headers=headers))
                count += 1
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return count


async def applied(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("select coalesce(sum(next_offset), 0) from runtime_offsets "
                                       "where topic like '%ocpp.messages'") or 0)
    except asyncpg.UndefinedTableError:
        return 0
    finally:
        await conn.close()


async def measure(spec: ProcessorSpec, settings: ProcessorSettings, total: int) -> tuple[float, int, float]:
    """(events/s, events of the untimed first batch, mean records per applied batch)."""
    stop = asyncio.Event()
    running: list[Running] = []
    task = asyncio.create_task(serve(spec, settings, stop, on_started=running.append))
    first_at, first_n = 0.0, 0
    try:
        while True:
            done = await applied(settings.database_url)
            if done and not first_at:
                first_at, first_n = time.perf_counter(), done
            if done >= total:
                rate = (done - first_n) / (time.perf_counter() - first_at)
                registry, labels = running[0].metrics.registry, {"processor": spec.name}
                mean = (registry.get_sample_value("csms_processor_batch_records_sum", labels) or 0) / max(
                    1.0, registry.get_sample_value("csms_processor_batch_records_count", labels) or 1)
                return rate, first_n, mean
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


async def run(started: infra.Infra, args: argparse.Namespace) -> None:
    kafka = KafkaSettings(bootstrap=started.bootstrap, topic_prefix=infra.unique("bench") + ".")
    names = ["ocpp.messages", "ocpp.connections", "stations.commands", "stations.registry", "stations.events",
             "auth.commands", "auth.tokens", "auth.events", "auth.authorizations", "commands.outcomes",
             "runtime.dead-letters"]
    await apply_topics(kafka, load_topics().with_prefix(kafka.topic_prefix), only=names,
                       max_partitions=args.partitions)
    t0 = time.perf_counter()
    total = await produce(kafka, args.stations, args.events)
    print(f"produced {total} OCPP events ({args.stations} stations) in {time.perf_counter() - t0:.1f}s")
    for module, settings_cls in ((stations, stations.StationsSettings),
                                 (authorization, authorization.AuthorizationSettings)):
        name = infra.unique("bench_")
        admin = await asyncpg.connect(started.database_url("postgres"))
        await admin.execute(f'create database "{name}"')
        await admin.close()
        try:
            settings = settings_cls(database_url=started.database_url(name), kafka=kafka, max_batch=args.batch,
                                    log_level="WARNING", http_port=0)
            rate, first, mean = await measure(module.spec(settings), settings, total)
            print(f"{module.__name__.split('.')[-1]:14} {rate:10,.0f} OCPP events/s "
                  f"(max batch {args.batch}, mean batch {mean:,.0f}; first {first} events not timed)")
        finally:
            admin = await asyncpg.connect(started.database_url("postgres"))
            await admin.execute(f'drop database if exists "{name}" with (force)')
            await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--partitions", type=int, default=6)
    args = parser.parse_args()
    started = infra.start()  # synchronous (runs its own readiness probe), so before the event loop
    asyncio.run(run(started, args))


if __name__ == "__main__":
    main()

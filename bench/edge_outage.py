"""Broker outage: N chargers keep charging while a broker of our own (port 29192) is stopped for S seconds.

    uv run python -m bench.edge_outage --chargers 1000 --outage 300

Runs one edge in-process against a separate broker (never the shared test broker), stops the broker with SIGTERM,
keeps every charger sending (Heartbeat, Authorize, sessions with MeterValues), restarts it, waits for the spool to
drain, then reads ocpp.messages back and counts: events expected (2 per answered CALL), distinct event ids that
arrived, duplicates (same event id twice: allowed by DESIGN.md, dropped by processors), per-connection order.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

from bench.sim.charger import Charger, ChargerStats
from csms.infra import kafka as kafka_infra
from csms.kafka import make_consumer
from csms.settings import KafkaSettings
from schemas import AvroCodec
from tests.integration.edge import _support as edge

VERSIONS = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")


async def _drive(charger: Charger, stop: asyncio.Event, meter_interval: float) -> None:
    await asyncio.sleep(random.random() * meter_interval)
    while not stop.is_set():
        await charger.heartbeat()
        await charger.session(meter_interval=meter_interval, samples=3, values_per_sample=5)


async def _read_back(kafka: KafkaSettings, want: int, timeout: float) -> list[dict]:
    codec, found, ids = AvroCodec(), [], set()
    consumer = make_consumer(kafka, kafka.topic_prefix + "ocpp.messages", group_id=None)
    await consumer.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(ids) < want:
            for records in (await consumer.getmany(timeout_ms=500, max_records=20_000)).values():
                for record in records:
                    value = codec.decode(record.value).value
                    found.append(value)
                    ids.add(value["event_id"])
    finally:
        await consumer.stop()
    return found


async def run(chargers: int, outage_s: float, meter_interval: float, home: Path) -> None:
    layout = kafka_infra.KafkaLayout(home=home, port=29192, controller_port=29193)
    await asyncio.to_thread(kafka_infra.start, layout, heap="512m")
    try:
        kafka = KafkaSettings(bootstrap=layout.bootstrap, topic_prefix=f"out{uuid.uuid4().hex[:6]}.",
                              request_timeout_ms=2000)
        await edge.create_topics(kafka)
        await edge.seed(kafka, tokens=[edge.token("DEMO-TOKEN-1")])
        async with edge.running_edge(kafka, home / "spool", unknown_stations="accept", durable_timeout_s=1.0,
                                     txid_block_size=4096, log_level="WARNING") as e:
            url = f"ws://127.0.0.1:{e.settings.port}/ocpp"
            stats = ChargerStats()
            fleet = [Charger(url, f"OB-{i:05d}", VERSIONS[i % 3], "DEMO-TOKEN-1", stats) for i in range(chargers)]
            gate = asyncio.Semaphore(200)

            async def up(charger: Charger) -> None:
                async with gate:
                    await charger.connect()
                    await charger.boot()

            await asyncio.gather(*(up(c) for c in fleet))
            stop = asyncio.Event()
            traffic = [asyncio.create_task(_drive(c, stop, meter_interval)) for c in fleet]
            await asyncio.sleep(10)
            await asyncio.to_thread(kafka_infra.stop, layout)
            print(f"broker stopped; {stats.sent} calls so far", flush=True)
            stats.latencies.clear()
            await asyncio.sleep(outage_s)
            during = sorted(stats.latencies)
            sent_during, spooled = len(during), e.publisher.spooled_total
            restart = time.perf_counter()
            await asyncio.to_thread(kafka_infra.start, layout, heap="512m")
            print(f"broker back after {outage_s:.0f}s (restart took {time.perf_counter() - restart:.1f}s)", flush=True)
            await asyncio.sleep(10)
            stop.set()
            failures = [r for r in await asyncio.gather(*traffic, return_exceptions=True) if r is not None]
            await asyncio.gather(*(c.close() for c in fleet), return_exceptions=True)
            drain = time.perf_counter()
            for _ in range(600):
                if e.spool.count == 0:
                    break
                await asyncio.sleep(0.5)
            drained_in, left = time.perf_counter() - drain, e.spool.count
        events = await _read_back(kafka, 2 * stats.sent, timeout=300)
        first: dict[str, dict] = {}
        for value in events:
            first.setdefault(value["event_id"], value)
        order = defaultdict(list)
        for value in first.values():
            order[value["connection_id"]].append(value["sequence"])
        in_order = all(seq == list(range(len(seq))) for seq in order.values())
        tx = sum(v["action"] in ("StartTransaction", "StopTransaction", "TransactionEvent", "MeterValues")
                 for v in first.values())
        p = (lambda q: during[min(len(during) - 1, int(q * len(during)))] * 1000) if during else (lambda q: 0.0)
        print(f"chargers={chargers} outage={outage_s:.0f}s calls answered={stats.sent} (during outage "
              f"{sent_during}, p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, max {p(1.0):.0f} ms) CALLERRORs="
              f"{stats.errors} charger failures={len(failures)}")
        print(f"spooled={spooled} records, drained in {drained_in:.1f}s after the chargers stopped (left {left}); "
              f"events expected={2 * stats.sent} distinct arrived={len(first)} lost={2 * stats.sent - len(first)} "
              f"duplicates={len(events) - len(first)} transaction events={tx} per-station order kept={in_order}")
    finally:
        await asyncio.to_thread(kafka_infra.stop, layout, kill=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chargers", type=int, default=1000)
    parser.add_argument("--outage", type=float, default=300)
    parser.add_argument("--meter-interval", type=float, default=5.0)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="edge-outage-"))
    asyncio.run(run(args.chargers, args.outage, args.meter_interval, home))


if __name__ == "__main__":
    main()

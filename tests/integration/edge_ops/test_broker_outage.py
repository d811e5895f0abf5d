"""A real broker of its own (port 29192, never the shared test broker) stopped for OUTAGE_S seconds while ~50
simulated chargers keep charging: every message is still answered (Boot/Heartbeat/Authorize from memory,
transaction messages after the fsync'd spool), and after the restart every event reaches Kafka once per event_id,
in per-station order. The 5-minute, 1,000-charger figure is bench/edge_outage.py."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import defaultdict

import pytest

from bench.sim.charger import Charger, ChargerStats
from csms.infra import kafka as kafka_infra
from csms.kafka import make_consumer
from csms.settings import KafkaSettings
from schemas import AvroCodec
from tests.integration.edge import _support as edge

pytestmark = pytest.mark.integration
OUTAGE_S = 15
CHARGERS = 50
DRAIN_WAIT_TICKS = 300
VERSIONS = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")


async def drive(charger: Charger, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await charger.heartbeat()
        await charger.session(meter_interval=0.5, samples=2, values_per_sample=3)
        await asyncio.sleep(random.random())


async def read_all(kafka: KafkaSettings, topic: str, want: int, timeout: float) -> list[dict]:
    codec, found = AvroCodec(), []
    consumer = make_consumer(kafka, kafka.topic_prefix + topic, group_id=None)
    await consumer.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len({v["event_id"] for v in found}) < want:
            batch = await consumer.getmany(timeout_ms=300, max_records=10_000)
            for records in batch.values():
                found += [codec.decode(r.value).value for r in records]
    finally:
        await consumer.stop()
    return found


async def test_broker_outage_loses_and_reorders_nothing(tmp_path):
    layout = kafka_infra.KafkaLayout(home=tmp_path / "outage-kafka", port=29192, controller_port=29193)
    await asyncio.to_thread(kafka_infra.start, layout, heap="384m")
    try:
        kafka = KafkaSettings(bootstrap=layout.bootstrap, topic_prefix=f"o{uuid.uuid4().hex[:6]}.",
                              request_timeout_ms=2000)
        await edge.create_topics(kafka)
        await edge.seed(kafka, tokens=[edge.token("DEMO-TOKEN-1")])
        async with edge.running_edge(kafka, tmp_path / "spool", unknown_stations="accept",
                                     durable_timeout_s=1.0) as e:
            url = f"ws://127.0.0.1:{e.settings.port}/ocpp"
            stats = ChargerStats()
            chargers = [Charger(url, f"OUT-{i:03d}", VERSIONS[i % 3], "DEMO-TOKEN-1", stats) for i in range(CHARGERS)]
            for charger in chargers:
                await charger.connect()
            await asyncio.gather(*(c.boot() for c in chargers))
            stop = asyncio.Event()
            traffic = [asyncio.create_task(drive(c, stop)) for c in chargers]
            await asyncio.sleep(2)

            await asyncio.to_thread(kafka_infra.stop, layout)  # SIGTERM: a clean broker stop
            outage_started = time.perf_counter()
            stats.latencies.clear()
            await asyncio.sleep(3)
            late = [Charger(url, f"OUT-LATE-{i}", VERSIONS[i % 3], "DEMO-TOKEN-1", stats) for i in range(5)]
            for charger in late:  # connect and boot while the broker is down: answered from memory
                await charger.connect()
                await charger.boot()
                await charger.call("Authorize", {"idTag": "DEMO-TOKEN-1"} if charger.version == "ocpp1.6" else
                                   {"idToken": {"idToken": "DEMO-TOKEN-1", "type": "ISO14443"}})
            await asyncio.sleep(max(0.0, OUTAGE_S - (time.perf_counter() - outage_started)))
            outage_latencies = list(stats.latencies)
            assert e.publisher.spooled_total > 0, "the outage was not noticed"

            await asyncio.to_thread(kafka_infra.start, layout, heap="384m")
            await asyncio.sleep(2)
            stop.set()
            results = await asyncio.gather(*traffic, return_exceptions=True)
            await asyncio.gather(*(c.close() for c in chargers + late))
            assert [r for r in results if isinstance(r, BaseException)] == []
            assert stats.errors == 0
            for _ in range(DRAIN_WAIT_TICKS):
                if e.spool.count == 0:
                    break
                await asyncio.sleep(0.1)
            assert e.spool.count == 0, "the spool did not drain"
            spooled = e.publisher.spooled_total

        events = await read_all(kafka, "ocpp.messages", 2 * stats.sent, timeout=20)
        first: dict[str, dict] = {}
        for value in events:
            first.setdefault(value["event_id"], value)
        assert len(first) == 2 * stats.sent, "every CALL and its answer reached Kafka"
        by_connection: dict[str, list[int]] = defaultdict(list)
        for value in first.values():  # in partition order, first occurrence of each event id
            by_connection[value["connection_id"]].append(value["sequence"])
        assert all(seqs == list(range(len(seqs))) for seqs in by_connection.values()), "per-station order"
        transactions = [v for v in first.values() if v["action"] in ("StartTransaction", "StopTransaction",
                                                                       "TransactionEvent", "MeterValues")]
        assert transactions
        print(f"\noutage {OUTAGE_S}s: {stats.sent} calls answered, {spooled} records spooled, "
              f"{len(events) - len(first)} duplicate records (same event_id), {len(transactions)} transaction "
              f"events; slowest answer during the outage {max(outage_latencies) * 1000:.0f} ms")
        assert max(outage_latencies) < 5.0, "answers kept flowing during the outage"
    finally:
        await asyncio.to_thread(kafka_infra.stop, layout, kill=True)

"""Reconnect storm over TLS into two edge processes sharing one port (SO_REUSEPORT), then command round trips.

    uv run python -m bench.edge_storm --chargers 10000 --processes 3 --commands 2000

Starts (or reuses) the test broker, makes a throwaway CA and server certificate, runs two `python -m ocpp_edge`
processes on the same ws/wss ports, and N simulated chargers (profile 0 over wss://) that connect, boot and report
status all at once, honouring 503 + Retry-After. With everyone connected, publishes commands (TriggerMessage) to
random chargers at --rate per second and times command published -> outcome event read back. Prints the storm
time, retries, command round-trip percentiles and the edges' peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import ssl
import tempfile
import time
import uuid
from pathlib import Path

import psutil
import uvloop

from bench.edge_bench import EDGE_TOPICS, gc_stats
from bench.sim.charger import Charger, ChargerStats
from csms.kafka import apply_topics, make_consumer, make_producer
from csms.settings import KafkaSettings
from schemas import AvroCodec, load_topics
from tests import infra
from tests.integration.edge_ops import _support as s
from tests.integration.edge_ops._certs import Authority

VERSIONS = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")


class TlsCharger(Charger):
    """The simulator's charger over wss://, retrying 503/429 after Retry-After like a well-behaved charger."""

    def __init__(self, *args: object, ca: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.tls = ssl.create_default_context(cafile=ca)


async def _share(url: str, ca: str, ids: list[str], hold: float, gate_size: int,
                 out: mp.Queue) -> None:  # type: ignore[type-arg]
    stats = ChargerStats()
    gate = asyncio.Semaphore(gate_size)
    chargers = [TlsCharger(url, sid, VERSIONS[i % 3], "DEMO-TOKEN-1", stats, ca=ca) for i, sid in enumerate(ids)]
    started = time.perf_counter()

    async def up(charger: TlsCharger) -> None:
        async with gate:  # chargers in flight at once (real ones back off randomly)
            await charger.connect()
            await charger.boot()

    results = await asyncio.gather(*(up(c) for c in chargers), return_exceptions=True)
    served = time.perf_counter() - started
    errors = [type(r).__name__ for r in results if isinstance(r, BaseException)]
    out.put({"served": stats.served, "seconds": served, "retries": sum(c.retries for c in chargers),
             "failed": len(errors), "errors": sorted(set(errors)),
             "ids": [c.station_id for c, r in zip(chargers, results, strict=True) if r is None]})
    await asyncio.sleep(hold)
    out.put({"csms_calls": sum(c.csms_calls for c in chargers)})
    await asyncio.gather(*(c.close() for c in chargers), return_exceptions=True)


def _worker(url: str, ca: str, ids: list[str], hold: float, gate: int,
            out: mp.Queue) -> None:  # type: ignore[type-arg]
    uvloop.run(_share(url, ca, ids, hold, gate, out))


async def command_round_trips(kafka: KafkaSettings, stations: list[str], count: int, rate: float) -> list[float]:
    codec, sent, latencies = AvroCodec(), {}, []
    consumer = make_consumer(kafka, kafka.topic_prefix + "ocpp.command-outcomes", group_id=None,
                             auto_offset_reset="latest", fetch_max_wait_ms=10)
    await consumer.start()
    await consumer.seek_to_end()
    await consumer.getmany(timeout_ms=100)

    async def reader() -> None:
        while len(latencies) < count:
            batch = await consumer.getmany(timeout_ms=100)
            for record in (r for part in batch.values() for r in part):
                value = codec.decode(record.value).value
                if value["command_id"] in sent:
                    at = sent.pop(value["command_id"])
                    latencies.append(time.perf_counter() - at if value["status"] == "RESULT" else float("inf"))

    task = asyncio.create_task(reader())
    producer = make_producer(kafka, linger_ms=0)
    await producer.start()
    try:
        for _ in range(count):
            command = s.command(random.choice(stations), "TriggerMessage", {"requestedMessage": "Heartbeat"})
            sent[command["command_id"]] = time.perf_counter()
            await producer.send(kafka.topic_prefix + "ocpp.commands", codec.encode("csms.ocpp.OcppCommand", command),
                                key=command["station_id"].encode(),
                                headers=codec.headers("csms.ocpp.OcppCommand", command["event_id"]))
            await asyncio.sleep(1 / rate)
        await asyncio.wait_for(task, 60)
    finally:
        await producer.stop()
        await consumer.stop()
    return sorted(latencies)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chargers", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--port", type=int, default=14100)
    parser.add_argument("--in-flight", type=int, default=1000, help="connecting chargers per simulator process")
    args = parser.parse_args()
    started = infra.start()
    kafka = KafkaSettings(bootstrap=started.bootstrap, topic_prefix=f"storm{uuid.uuid4().hex[:6]}.")
    asyncio.run(apply_topics(kafka, load_topics(prefix=kafka.topic_prefix), only=EDGE_TOPICS, max_partitions=12))
    work = Path(tempfile.mkdtemp(prefix="edge-storm-"))
    pki = Authority(work / "pki")
    cert = pki.issue("edge", server=True)
    env = {"CSMS_EDGE_UNKNOWN_STATIONS": "accept", "CSMS_EDGE_REUSE_PORT": "true",
           "CSMS_EDGE_TLS_PORT": str(args.port + 1), "CSMS_EDGE_TLS_CERT_FILE": str(cert.cert),
           "CSMS_EDGE_TLS_KEY_FILE": str(cert.key), "CSMS_EDGE_PING_INTERVAL_S": "300",
           "CSMS_EDGE_ADMISSION_RATE_PER_S": "1500", "CSMS_EDGE_ADMISSION_BURST": "1500"}
    edges = [s.EdgeProcess(kafka, work / f"spool{n}", f"storm-{n}", args.port, args.port + 10 + n, **env)
             for n in range(2)]
    for e in edges:
        e.start()
    try:
        for e in edges:
            e.wait_ready(120)
        prefix = f"ST{uuid.uuid4().hex[:4]}"
        ids = [f"{prefix}-{i:05d}" for i in range(args.chargers)]
        hold = 30 + args.commands / args.rate
        ctx = mp.get_context("spawn")
        out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
        shares = [ids[p::args.processes] for p in range(args.processes)]
        procs = [ctx.Process(target=_worker, args=(f"wss://127.0.0.1:{args.port + 1}/ocpp", str(pki.cert), share,
                                                   hold, args.in_flight, out)) for share in shares]
        peak = [0]
        for proc in procs:
            proc.start()
        storm = [out.get(timeout=600) for _ in procs]
        for e in edges:
            assert e.proc is not None
            peak[0] += psutil.Process(e.proc.pid).memory_info().rss
        print(f"storm over TLS into 2 edges: {sum(x['served'] for x in storm)}/{args.chargers} served in "
              f"{max(x['seconds'] for x in storm):.1f}s; {sum(x['retries'] for x in storm)} upgrades refused with "
              f"503/429 and retried; {sum(x['failed'] for x in storm)} failed "
              f"{sorted({e for x in storm for e in x['errors']})}; edges' RSS {peak[0] / 2**20:.0f} MiB", flush=True)
        connected = [i for x in storm for i in x["ids"]]
        lat = asyncio.run(command_round_trips(kafka, connected, args.commands, args.rate))
        pct = {q: lat[min(len(lat) - 1, int(q / 100 * len(lat)))] * 1000 for q in (50, 90, 99)}
        print(f"command round trip with {len(connected)} connected ({len(lat)} commands at {args.rate:g}/s): "
              f"p50 {pct[50]:.1f} ms, p90 {pct[90]:.1f} ms, p99 {pct[99]:.1f} ms, max {lat[-1] * 1000:.1f} ms")
        for e in edges:
            gcs = gc_stats(e.http_port)
            print(f"edge {e.edge_id}: longest GC pause {gcs.get('max', 0) * 1000:.1f} ms (most CPU in one "
                  f"collection {gcs.get('max_cpu', 0) * 1000:.1f} ms); collections " + ", ".join(
                f"gen{g} {gcs.get(f'count{g}', 0):.0f} / {gcs.get(f'seconds{g}', 0):.2f}s" for g in range(3)))
        for _ in procs:
            out.get(timeout=600)
        for proc in procs:
            proc.join(60)
    finally:
        for e in edges:
            e.stop()


if __name__ == "__main__":
    main()

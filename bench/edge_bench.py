"""Edge benchmarks on this box, broker included (issue 3's figures).

    uv run python -m bench.edge_bench meter --rate 5000 --chargers 1000 --duration 30
    uv run python -m bench.edge_bench idle --chargers 10000 --processes 3
    uv run python -m bench.edge_bench storm --chargers 10000 --processes 3

Starts the test broker (tests/infra.py) if needed, creates the edge's topics under a fresh prefix, runs ONE edge
process (`python -m ocpp_edge`, unknown stations accepted) and the simulator in separate processes, and prints
the simulator's figures plus the edge's resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import psutil

from bench.sim import FleetConfig, run_fleet
from csms.kafka import apply_topics
from csms.settings import KafkaSettings
from ocpp_edge.topics import EDGE_TOPICS
from schemas import load_topics
from tests import infra


def start_edge(kafka: KafkaSettings, port: int, http_port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CSMS_EDGE_KAFKA__BOOTSTRAP": kafka.bootstrap,
           "CSMS_EDGE_KAFKA__TOPIC_PREFIX": kafka.topic_prefix, "CSMS_EDGE_PORT": str(port),
           "CSMS_EDGE_HTTP_PORT": str(http_port), "CSMS_EDGE_UNKNOWN_STATIONS": "accept",
           "CSMS_EDGE_LOG_LEVEL": "WARNING", "CSMS_EDGE_SPOOL_DIR": tempfile.mkdtemp(prefix="edge-spool-"),
           "CSMS_EDGE_PING_INTERVAL_S": "300"}
    proc = subprocess.Popen([sys.executable, "-m", "ocpp_edge"], env=env)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/ready", timeout=1) as response:
                if response.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("edge did not become ready")


def gc_stats(http_port: int) -> dict[str, float]:
    """The edge's GC figures from /metrics: "max" pause, "max_cpu", and per generation N "countN", "secondsN"."""
    found: dict[str, float] = {}
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("csms_edge_gc_pause_max_seconds "):
                found["max"] = float(line.split()[1])
            if line.startswith("csms_edge_gc_pause_max_cpu_seconds "):
                found["max_cpu"] = float(line.split()[1])
            for kind, name in (("count", "_count{"), ("seconds", "_sum{")):
                if line.startswith("csms_edge_gc_pause_seconds" + name):
                    generation = line.split('generation="')[1][0]
                    found[kind + generation] = float(line.split()[1])
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["meter", "idle", "storm"])
    parser.add_argument("--chargers", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--rate", type=float, default=2500)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--port", type=int, default=14000)
    parser.add_argument("--connect-concurrency", type=int, default=500,
                        help="connections being opened at once per simulator process (storm: 10000 = all at once)")
    args = parser.parse_args()
    started = infra.start()
    kafka = KafkaSettings(bootstrap=started.bootstrap, topic_prefix=f"bench{uuid.uuid4().hex[:6]}.")
    asyncio.run(apply_topics(kafka, load_topics(prefix=kafka.topic_prefix), only=EDGE_TOPICS, max_partitions=12))
    edge = start_edge(kafka, args.port, args.port + 1)
    try:
        rss_before = psutil.Process(edge.pid).memory_info().rss
        cfg = FleetConfig(url=f"ws://127.0.0.1:{args.port}/ocpp", chargers=args.chargers, mode=args.mode,
                          processes=args.processes, prefix=f"B{uuid.uuid4().hex[:4]}", duration_s=args.duration,
                          rate=args.rate, connect_concurrency=args.connect_concurrency)
        if args.mode == "idle":
            import threading

            peak = [0]

            def sample() -> None:
                end = time.monotonic() + args.duration + 600
                while time.monotonic() < end and edge.poll() is None:
                    peak[0] = max(peak[0], psutil.Process(edge.pid).memory_info().rss)
                    time.sleep(0.5)

            threading.Thread(target=sample, daemon=True).start()
        cpu_before = psutil.Process(edge.pid).cpu_times()
        stats = run_fleet(cfg)
        cpu_after = psutil.Process(edge.pid).cpu_times()
        edge_cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        rss_after = psutil.Process(edge.pid).memory_info().rss
        print(stats.summary())
        if args.mode == "meter":
            print(f"meter values answered: {len(stats.latencies)} in {args.duration:.0f}s = "
                  f"{len(stats.latencies) / args.duration:,.0f}/s; p50 {stats.percentile(50) * 1000:.1f} ms, "
                  f"p99 {stats.percentile(99) * 1000:.1f} ms")
            per_message = edge_cpu / max(1, stats.sent)
            print(f"edge CPU {edge_cpu:.1f}s (user {cpu_after.user - cpu_before.user:.1f}s, system "
                  f"{cpu_after.system - cpu_before.system:.1f}s) for {stats.sent} charger messages (incl. boots): "
                  f"{per_message * 1e6:.0f} us/message -> {1 / per_message:,.0f} messages/s per core")
        if args.mode == "storm":
            print(f"storm: {stats.served}/{args.chargers} chargers connected+booted+status in "
                  f"{stats.served_seconds:.1f}s")
        if args.mode == "idle":
            per = (peak[0] - rss_before) / max(1, stats.connected)
            print(f"edge RSS before {rss_before / 2**20:.0f} MiB, peak {peak[0] / 2**20:.0f} MiB with "
                  f"{stats.connected} connected: {per / 1024:.1f} KiB per idle charger")
        gcs = gc_stats(args.port + 1)
        print(f"edge RSS at end {rss_after / 2**20:.0f} MiB; longest GC pause {gcs.get('max', 0) * 1000:.1f} ms "
              f"(most CPU in one collection {gcs.get('max_cpu', 0) * 1000:.1f} ms); "
              "collections " + ", ".join(f"gen{g} {gcs.get(f'count{g}', 0):.0f} / {gcs.get(f'seconds{g}', 0):.2f}s"
                                         for g in range(3)))
    finally:
        edge.terminate()
        edge.wait(30)


if __name__ == "__main__":
    main()

"""A fleet of simulated chargers across several processes.

Modes: `demo` (sessions forever at a human pace), `storm` (everyone connects, boots and reports status at
once; time until all are served), `idle` (connect, boot, then hold), `meter` (MeterValues with 10 sampled
values at a fixed total rate; latency percentiles).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Literal

import uvloop

from bench.sim.charger import Charger, ChargerStats

VERSIONS = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")


@dataclass(frozen=True)
class FleetConfig:
    url: str = "ws://127.0.0.1:4000/ocpp"
    chargers: int = 10
    mode: Literal["demo", "storm", "idle", "meter"] = "demo"
    processes: int = 1
    versions: tuple[str, ...] = VERSIONS
    prefix: str = "SIM"
    tokens: tuple[str, ...] = ("DEMO-TOKEN-1",)
    duration_s: float = 30.0
    rate: float = 100.0  # meter mode: MeterValues per second across the fleet
    values: int = 10
    meter_interval_s: float = 5.0
    samples_per_session: int = 6
    idle_between_s: float = 10.0
    connect_concurrency: int = 2000


@dataclass
class FleetStats:
    chargers: int = 0
    connected: int = 0
    served: int = 0
    sent: int = 0
    errors: int = 0
    sessions: int = 0
    seconds: float = 0.0
    served_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    retries: int = 0  # upgrades refused (503/429) and tried again after Retry-After

    def merge(self, other: FleetStats) -> None:
        for name in ("chargers", "connected", "served", "sent", "errors", "sessions", "retries"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.seconds = max(self.seconds, other.seconds)
        self.served_seconds = max(self.served_seconds, other.served_seconds)
        self.latencies += other.latencies

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def summary(self) -> str:
        return (f"chargers={self.chargers} connected={self.connected} served={self.served} sent={self.sent} "
                f"errors={self.errors} sessions={self.sessions} retries={self.retries} wall={self.seconds:.1f}s "
                f"served_in={self.served_seconds:.1f}s rate={self.sent / max(self.seconds, 1e-9):,.0f}/s "
                f"p50={self.percentile(50) * 1000:.1f}ms p99={self.percentile(99) * 1000:.1f}ms")


def station_id(cfg: FleetConfig, index: int) -> str:
    return f"{cfg.prefix}-{index:05d}"


def version_of(cfg: FleetConfig, index: int) -> str:
    return cfg.versions[index % len(cfg.versions)]


async def _run_share(cfg: FleetConfig, indices: list[int], stop: asyncio.Event | None = None) -> FleetStats:
    stats = ChargerStats()
    chargers = [Charger(cfg.url, station_id(cfg, i), version_of(cfg, i), cfg.tokens[i % len(cfg.tokens)], stats,
                        record_latency=cfg.mode != "demo") for i in indices]
    started = time.perf_counter()
    gate = asyncio.Semaphore(cfg.connect_concurrency)

    async def bring_up(charger: Charger) -> None:
        async with gate:
            await charger.connect()
            await charger.boot()

    results = await asyncio.gather(*(bring_up(c) for c in chargers), return_exceptions=True)
    served_seconds = time.perf_counter() - started
    live = [c for c, r in zip(chargers, results, strict=True) if not isinstance(r, BaseException)]
    if cfg.mode == "meter":
        stats.latencies.clear()  # boot latencies are not part of the meter figure
    until = time.monotonic() + cfg.duration_s
    if cfg.mode == "meter":
        per_charger = cfg.rate / cfg.processes / max(1, len(live))
        await asyncio.gather(*(c.meter_stream(per_charger, until, cfg.values) for c in live),
                             return_exceptions=True)
    elif cfg.mode == "idle":
        await asyncio.sleep(cfg.duration_s)
    elif cfg.mode == "demo":
        await asyncio.gather(*(_demo_loop(cfg, c, stop) for c in live), return_exceptions=True)
    await asyncio.gather(*(c.close() for c in chargers), return_exceptions=True)
    return FleetStats(len(indices), stats.connected, stats.served, stats.sent, stats.errors, stats.sessions,
                      time.perf_counter() - started, served_seconds, stats.latencies,
                      sum(c.retries for c in chargers))


async def _demo_loop(cfg: FleetConfig, charger: Charger, stop: asyncio.Event | None) -> None:
    await asyncio.sleep(random.random() * cfg.idle_between_s)
    while stop is None or not stop.is_set():
        if charger.accepted:
            await charger.session(meter_interval=cfg.meter_interval_s, samples=cfg.samples_per_session)
        else:
            await charger.boot()
        await charger.heartbeat()
        await asyncio.sleep(cfg.idle_between_s * (0.5 + random.random()))


def _worker(cfg: FleetConfig, indices: list[int], out: mp.Queue) -> None:  # type: ignore[type-arg]
    stats = uvloop.run(_run_share(cfg, indices))
    out.put(asdict(stats))


def run_fleet(cfg: FleetConfig) -> FleetStats:
    """Run the fleet to completion (demo mode runs until interrupted) and return merged statistics."""
    shares = [list(range(p, cfg.chargers, cfg.processes)) for p in range(cfg.processes)]
    if cfg.processes == 1:
        return uvloop.run(_run_share(cfg, shares[0]))
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_worker, args=(cfg, share, out)) for share in shares]
    for proc in procs:
        proc.start()
    total = FleetStats()
    for _ in procs:
        total.merge(FleetStats(**out.get()))
    for proc in procs:
        proc.join()
    return total

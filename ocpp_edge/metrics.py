"""Prometheus metrics of the edge."""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class EdgeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.connections = Gauge("csms_edge_connections", "Open charger connections", ["version"], registry=r)
        self.refused = Counter("csms_edge_upgrades_refused_total", "Refused WebSocket upgrades", ["reason"],
                               registry=r)
        self.frames = Counter("csms_edge_frames_total", "Frames crossing sockets", ["direction", "type"],
                              registry=r)
        self.errors = Counter("csms_edge_callerrors_total", "CALLERRORs sent to chargers", ["code"], registry=r)
        self.answer_seconds = Histogram(
            "csms_edge_answer_seconds", "Frame received -> answer sent (includes the durable publish)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=r)
        self.spooled = Counter("csms_edge_spooled_records_total", "Records written to the local spool", registry=r)
        self.spool_pending = Gauge("csms_edge_spool_pending", "Records waiting in the spool", registry=r)
        self.command_outcomes = Counter("csms_edge_command_outcomes_total", "Outcomes of charger commands this edge "
                                        "published", ["status"], registry=r)
        self.gc_pauses = Histogram(
            "csms_edge_gc_pause_seconds", "Garbage-collector pauses of the edge process", ["generation"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1), registry=r)
        self.gc_pause_max = Gauge("csms_edge_gc_pause_max_seconds", "Longest garbage-collector pause so far",
                                  registry=r)
        self.gc_pause_max_cpu = Gauge(
            "csms_edge_gc_pause_max_cpu_seconds", "Most CPU time one collection used so far (a wall-clock pause far "
            "above it was the process waiting for a core, not collecting)", registry=r)
        self._frame_counters: dict[tuple[str, str], Counter] = {}
        self._gc_started = self._gc_started_cpu = 0.0
        self._gc_longest = self._gc_longest_cpu = 0.0

    def watch_gc(self) -> None:
        """Time every collection (gc.callbacks is process-wide: call `unwatch_gc` when the edge stops)."""
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)

    def unwatch_gc(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started, self._gc_started_cpu = time.perf_counter(), time.thread_time()
            return
        pause, cpu = time.perf_counter() - self._gc_started, time.thread_time() - self._gc_started_cpu
        self.gc_pauses.labels(str(info["generation"])).observe(pause)
        if pause > self._gc_longest:
            self._gc_longest = pause
            self.gc_pause_max.set(pause)
        if cpu > self._gc_longest_cpu:
            self._gc_longest_cpu = cpu
            self.gc_pause_max_cpu.set(cpu)

    def count_frame(self, direction: str, kind: str) -> None:
        """frames_total{direction, kind} += 1, with the labelled child cached (labels() is slow per call)."""
        child = self._frame_counters.get((direction, kind))
        if child is None:
            child = self._frame_counters[(direction, kind)] = self.frames.labels(direction, kind)
        child.inc()

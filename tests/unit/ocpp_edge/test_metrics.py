"""The edge times its garbage-collector pauses (issue 4: no pause over 100 ms during a storm)."""

from __future__ import annotations

import gc

from prometheus_client import generate_latest

from ocpp_edge.metrics import EdgeMetrics


def test_gc_pauses_are_timed_until_unwatched() -> None:
    metrics = EdgeMetrics()
    metrics.watch_gc()
    metrics.watch_gc()  # idempotent: one callback, not two
    try:
        assert gc.callbacks.count(metrics._on_gc) == 1
        gc.collect()
        text = generate_latest(metrics.registry).decode()
        assert 'csms_edge_gc_pause_seconds_count{generation="2"}' in text
        assert metrics.registry.get_sample_value("csms_edge_gc_pause_max_seconds", {}) > 0
        assert metrics.registry.get_sample_value("csms_edge_gc_pause_max_cpu_seconds", {}) > 0
    finally:
        metrics.unwatch_gc()
    assert metrics._on_gc not in gc.callbacks
    before = metrics.registry.get_sample_value("csms_edge_gc_pause_seconds_count", {"generation": "2"})
    gc.collect()
    assert metrics.registry.get_sample_value("csms_edge_gc_pause_seconds_count", {"generation": "2"}) == before

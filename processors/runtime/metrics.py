"""Prometheus metrics of one processor runtime (own registry, so several runtimes can share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class RuntimeMetrics:
    def __init__(self, processor: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = {"processor": processor}
        self.applied = Counter(
            "csms_processor_events_applied_total", "Events applied to the store", ["processor"],
            registry=self.registry,
        ).labels(**labels)
        self.duplicates = Counter(
            "csms_processor_events_duplicate_total", "Redelivered or duplicate events skipped", ["processor"],
            registry=self.registry,
        ).labels(**labels)
        self.skipped = Counter(
            "csms_processor_records_skipped_total", "Records the spec's header filter skipped before decoding",
            ["processor"], registry=self.registry,
        ).labels(**labels)
        self.dead_letters = Counter(
            "csms_processor_dead_letters_total", "Records sent to the dead-letter topic", ["processor", "reason"],
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "csms_processor_batch_seconds", "Time to apply one batch (decode, handlers, commit)", ["processor"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        ).labels(**labels)
        self.batch_size = Histogram(
            "csms_processor_batch_records", "Records per batch", ["processor"],
            buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000), registry=self.registry,
        ).labels(**labels)
        self.lag = Gauge(
            "csms_processor_lag_records", "Records behind the high watermark", ["processor", "topic", "partition"],
            registry=self.registry,
        )
        self.outbox_pending = Gauge(
            "csms_processor_outbox_pending", "Outbox rows not yet published", ["processor"], registry=self.registry,
        ).labels(**labels)
        self.relayed = Counter(
            "csms_processor_outbox_published_total", "Outbox records published", ["processor"],
            registry=self.registry,
        ).labels(**labels)
        self.transient_errors = Counter(
            "csms_processor_transient_errors_total", "Batches retried after a transient error", ["processor"],
            registry=self.registry,
        ).labels(**labels)

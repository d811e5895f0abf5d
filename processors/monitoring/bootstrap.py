"""The composition root of the monitoring processor."""

from __future__ import annotations

from pathlib import Path

from processors.monitoring.handlers import BATCH_HANDLERS, HANDLERS, skip_charger_calls
from processors.monitoring.settings import MonitoringSettings
from processors.runtime import ProcessorSpec

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
INPUT_TOPICS = ("ocpp.messages", "ocpp.connections", "runtime.dead-letters", "stations.registry",
                "monitoring.commands", "billing.events")


def spec(settings: MonitoringSettings | None = None) -> ProcessorSpec:
    """The monitoring processor for the runtime."""
    return ProcessorSpec(name="monitoring", topics=INPUT_TOPICS, handlers=HANDLERS, batch_handlers=BATCH_HANDLERS,
                         migrations=MIGRATIONS, skip=skip_charger_calls)

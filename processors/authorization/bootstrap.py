"""Composition root of the authorization processor."""

from __future__ import annotations

from pathlib import Path

from processors.authorization.handlers import BATCH_HANDLERS, HANDLERS
from processors.authorization.settings import AuthorizationSettings
from processors.runtime import ProcessorSpec

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
TOPICS = ("ocpp.messages", "auth.commands", "stations.registry")


def spec(settings: AuthorizationSettings | None = None) -> ProcessorSpec:
    """The authorization processor for the runtime."""
    return ProcessorSpec(name="authorization", topics=TOPICS, handlers=HANDLERS, batch_handlers=BATCH_HANDLERS,
                         migrations=MIGRATIONS)

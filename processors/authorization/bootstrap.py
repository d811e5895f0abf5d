"""Composition root of the authorization processor."""

from __future__ import annotations

from pathlib import Path

from processors.authorization.decisions import DECISION_ACTIONS
from processors.authorization.handlers import BATCH_HANDLERS, HANDLERS
from processors.authorization.settings import AuthorizationSettings
from processors.runtime import ProcessorSpec
from processors.runtime.ocpp_events import skip_ocpp

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
TOPICS = ("ocpp.messages", "auth.commands", "stations.registry")


def spec(settings: AuthorizationSettings | None = None) -> ProcessorSpec:
    """The authorization processor for the runtime."""
    # only the edge's answers to Authorize / Start / Stop / TransactionEvent carry decisions: the rest of
    # ocpp.messages is skipped on its headers, without being decoded
    return ProcessorSpec(name="authorization", topics=TOPICS, handlers=HANDLERS, batch_handlers=BATCH_HANDLERS,
                         migrations=MIGRATIONS, skip=skip_ocpp(["CALLRESULT"], DECISION_ACTIONS))

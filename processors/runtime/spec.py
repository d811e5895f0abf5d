"""How a processor declares itself to the runtime."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from processors.runtime.events import BatchHandler, Handler


@dataclass(frozen=True)
class ProcessorSpec:
    """A processor: its consumer group, input topics (logical names), and handlers by schema full name.

    Consecutive events of one schema that has a batch handler are applied in one call; other events go to their
    per-event handlers in offset order. Events of schemas with no handler are recorded as seen and skipped.
    """

    name: str
    topics: Sequence[str]
    handlers: Mapping[str, Sequence[Handler]] = field(default_factory=dict)
    batch_handlers: Mapping[str, BatchHandler] = field(default_factory=dict)
    migrations: Path | None = None

    @property
    def group_id(self) -> str:
        return f"csms.{self.name}"

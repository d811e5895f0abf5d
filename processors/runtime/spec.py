"""How a processor declares itself to the runtime."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from processors.runtime.events import BatchHandler, Handler


@dataclass(frozen=True)
class ProcessorSpec:
    """A processor: its consumer group, input topics (logical names), and handlers by schema full name.

    Consecutive events of one schema that has a batch handler are applied in one call; other events go to their
    per-event handlers in offset order. Events of schemas with no handler are recorded as seen and skipped.

    `skip`, if set, is called with each record's headers BEFORE it is decoded: True means the handlers would
    ignore the record, so it is not decoded, gets no dedupe record (it has no effects to protect) and is not
    dispatched; its offset still advances with the batch. It must be a pure function of the headers and must
    return False for records lacking the headers it looks at (older producers); see `ocpp_events.skip_ocpp`.
    """

    name: str
    topics: Sequence[str]
    handlers: Mapping[str, Sequence[Handler]] = field(default_factory=dict)
    batch_handlers: Mapping[str, BatchHandler] = field(default_factory=dict)
    migrations: Path | None = None
    skip: Callable[[Sequence[tuple[str, bytes]]], bool] | None = None

    @property
    def group_id(self) -> str:
        return f"csms.{self.name}"

"""What handlers receive and what they may emit."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Event:
    """One decoded Kafka record. `value` is None for a tombstone."""

    topic: str  # logical name from topics.yaml
    partition: int
    offset: int
    key: str | None
    schema: str | None
    value: dict[str, Any] | None
    event_id: str
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class Emitted:
    """A record a handler asked to publish through the outbox."""

    topic: str  # logical
    key: str | None
    schema: str | None
    value: Mapping[str, Any] | None
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class UnitOfWork(Protocol):
    """What a handler may touch: its store's connection (inside the batch transaction) and the outbox."""

    @property
    def conn(self) -> Any: ...

    def emit(self, topic: str, key: str | None, schema: str | None, value: Mapping[str, Any] | None,
             *, event_id: str | None = None) -> str: ...


Handler = Callable[[Event, UnitOfWork], Awaitable[None]]
BatchHandler = Callable[[Sequence[Event], UnitOfWork], Awaitable[None]]

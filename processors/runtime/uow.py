"""The unit of work handed to handlers: one store connection inside the batch transaction, plus the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from schemas import AvroCodec, TopicCatalog


class BatchUnitOfWork:
    """Collects emitted records; the runtime writes them to the outbox in the same transaction."""

    def __init__(self, conn: AsyncConnection, codec: AvroCodec, topics: TopicCatalog) -> None:
        self._conn = conn
        self._codec = codec
        self._topics = topics
        self.outbox_rows: list[dict[str, object]] = []

    @property
    def conn(self) -> AsyncConnection:
        return self._conn

    def emit(
        self,
        topic: str,
        key: str | None,
        schema: str | None,
        value: Mapping[str, Any] | None,
        *,
        event_id: str | None = None,
    ) -> str:
        """Queue a record for `topic` (logical name); `value=None` is a tombstone. Returns its event id."""
        event_id = event_id or str(uuid.uuid4())
        physical = self._topics.name(topic)
        encoded: bytes | None = None
        fingerprint: str | None = None
        if value is not None:
            if schema is None:
                schema = self._topics.spec(topic).value_schema
            if schema is None:
                raise ValueError(f"topic {topic} has no value schema; pass schema=")
            if "event_id" not in value:
                value = {**value, "event_id": event_id}
            encoded = self._codec.encode(schema, value, subject=f"{physical}-value")
            fingerprint = self._codec.catalog.get(schema).fingerprint_hex
        self.outbox_rows.append(
            {
                "topic": physical,
                "key": key.encode() if key is not None else None,
                "value": encoded,
                "schema_name": schema,
                "fingerprint": fingerprint,
                "event_id": event_id,
            }
        )
        return event_id

    def take(self) -> list[dict[str, object]]:
        rows, self.outbox_rows = self.outbox_rows, []
        return rows

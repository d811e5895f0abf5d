"""Event ids made on the edge's hot path are valid, distinct version-4 UUIDs."""

from __future__ import annotations

import uuid

from ocpp_edge.translate import new_event_id


def test_event_ids_are_version_4_uuids() -> None:
    ids = [new_event_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:1000]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122

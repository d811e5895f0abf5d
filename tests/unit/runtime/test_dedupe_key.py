"""Dedupe keys: uuid event ids are their own key; any other id maps to a stable uuid5."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from processors.runtime.store import DEDUPE_NAMESPACE, dedupe_key


@given(st.uuids())
def test_a_canonical_uuid_is_its_own_key(value: uuid.UUID) -> None:
    assert dedupe_key(str(value)) == str(value)


@given(st.text(max_size=80))
def test_every_id_maps_to_a_canonical_uuid_deterministically(event_id: str) -> None:
    key = dedupe_key(event_id)
    assert str(uuid.UUID(key)) == key
    assert dedupe_key(event_id) == key


@given(st.text(max_size=80), st.text(max_size=80))
def test_distinct_ids_keep_distinct_keys(a: str, b: str) -> None:
    if a != b:
        assert dedupe_key(a) != dedupe_key(b)


def test_non_uuid_ids_use_the_fixed_namespace() -> None:
    assert dedupe_key("ocpp.messages:3:1042") == str(uuid.uuid5(DEDUPE_NAMESPACE, "ocpp.messages:3:1042"))
    upper = str(uuid.uuid4()).upper()  # not the canonical text form: hashed like any other string
    assert dedupe_key(upper) == str(uuid.uuid5(DEDUPE_NAMESPACE, upper))
    assert dedupe_key(f"dead:{upper.lower()}") != upper.lower()

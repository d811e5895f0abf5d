"""Contracts: every schema parses, topics.yaml and schemas/ agree, recorded samples still decode."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from fastavro import parse_schema

from schemas import AvroCodec, SchemaCatalog, default_catalog, load_topics
from schemas.catalog import SCHEMA_ROOT

SAMPLES = Path(__file__).parent / "samples"
# schemas that are carried by a topic declared in topics.yaml; every current schema must be one of these
CATALOG = default_catalog()


@pytest.mark.parametrize("path", sorted(SCHEMA_ROOT.rglob("*.avsc")), ids=lambda p: p.name)
def test_every_schema_parses_and_is_a_namespaced_record(path: Path) -> None:
    raw = json.loads(path.read_text())
    parse_schema(raw)
    assert raw["type"] == "record"
    assert raw["namespace"].startswith("csms."), "namespace csms.* (DESIGN.md decision 8)"
    assert raw["fields"][0]["name"] == "event_id", "every event carries its event_id first"


def test_every_topic_names_a_known_schema_and_every_schema_has_a_topic() -> None:
    topics = load_topics()
    assert None not in {t.value_schema for t in topics.specs}
    declared = {name for t in topics.specs for name in t.all_schemas}
    assert declared <= set(CATALOG.names())
    assert set(CATALOG.names()) <= declared, "a schema with no topic is dead weight"


def test_topics_are_sane() -> None:
    for spec in load_topics().specs:
        assert spec.partitions >= 1
        if spec.cleanup_policy == "compact":
            assert spec.retention_ms == -1, f"{spec.name}: compacted state keeps every key"
        else:
            assert spec.retention_ms >= 24 * 3600 * 1000


def _sample_files() -> list[Path]:
    return sorted(SAMPLES.glob("*.avro"))


def test_there_is_a_recorded_sample_for_every_current_schema() -> None:
    recorded = {p.name.split("@")[0] for p in _sample_files()}
    assert set(CATALOG.names()) <= recorded, "run: uv run python -m tests.contract.record_samples"


@pytest.mark.parametrize("path", _sample_files(), ids=lambda p: p.name)
def test_recorded_samples_still_decode_with_the_current_schemas(path: Path) -> None:
    """Backward compatibility: bytes written by any past version decode with today's reader schema.

    A schema change that drops the old writer from schemas/_history/ or breaks resolution fails here.
    """
    codec = AvroCodec()
    decoded = codec.decode(path.read_bytes())
    expected = json.loads(path.with_suffix(".json").read_text())
    assert decoded.schema == path.name.split("@")[0]
    for key, value in expected.items():
        got = decoded.value[key]
        if hasattr(got, "isoformat"):
            got = got.isoformat()
        elif isinstance(got, uuid.UUID):
            got = str(got)
        assert got == value, key


def test_history_versions_are_not_current() -> None:
    catalog = SchemaCatalog.load()
    current = {s.fingerprint for s in catalog}
    for fp in catalog.known_fingerprints() - current:
        assert catalog.by_fingerprint(fp).name in catalog.names()

"""The Avro codec: both framings, schema evolution, and clear errors on bad bytes."""

from __future__ import annotations

import contextlib
import json
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import AvroCodec, AvroSchema, DecodeError, SchemaCatalog, SchemaError

AT = datetime(2026, 11, 28, 8, 30, tzinfo=UTC)


def message(**over: object) -> dict[str, object]:
    value: dict[str, object] = {
        "event_id": str(uuid.uuid4()), "station_id": "CP-1", "edge_id": "edge-a", "connection_id": "c1",
        "ocpp_version": "ocpp1.6", "direction": "CHARGER_TO_CSMS", "message_type": "CALL", "message_id": "42",
        "action": "Heartbeat", "payload_json": "{}", "received_at": AT, "sequence": 3,
    }
    value.update(over)
    return value


def test_single_object_encoding_round_trips_and_is_framed_per_the_avro_spec() -> None:
    codec = AvroCodec()
    data = codec.encode("csms.ocpp.OcppMessage", message())
    schema = codec.catalog.get("csms.ocpp.OcppMessage")
    assert data[:2] == b"\xc3\x01" and data[2:10] == schema.fingerprint
    decoded = codec.decode(data)
    assert decoded.schema == "csms.ocpp.OcppMessage"
    assert decoded.value["received_at"] == AT and decoded.value["error_code"] is None


def test_fingerprint_matches_the_reference_implementation() -> None:
    """CRC-64-AVRO of the Parsing Canonical Form, little-endian, as the Apache avro library computes it."""
    import avro.schema

    raw = {"type": "record", "name": "X", "namespace": "csms.t", "fields": [{"name": "a", "type": "long"}]}
    ours = _schema(raw)
    assert ours.fingerprint == avro.schema.parse(json.dumps(raw)).fingerprint()


def test_headers_carry_schema_fingerprint_and_event_id() -> None:
    codec = AvroCodec()
    headers = dict(codec.headers("csms.ocpp.OcppMessage", "abc"))
    assert headers["schema"] == b"csms.ocpp.OcppMessage"
    assert headers["event_id"] == b"abc"
    assert bytes.fromhex(headers["fingerprint"].decode()) == codec.catalog.get("csms.ocpp.OcppMessage").fingerprint


class _Registry:
    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.schemas: dict[int, AvroSchema] = {}

    def id_for(self, subject: str, schema: AvroSchema) -> int:
        key = f"{subject}/{schema.fingerprint_hex}"
        if key not in self.ids:
            self.ids[key] = len(self.ids) + 100
            self.schemas[self.ids[key]] = schema
        return self.ids[key]

    def schema_for(self, schema_id: int) -> AvroSchema:
        return self.schemas[schema_id]


def test_confluent_wire_format_when_a_registry_is_configured() -> None:
    registry = _Registry()
    codec = AvroCodec(registry=registry)
    data = codec.encode("csms.ocpp.OcppMessage", message(), subject="ocpp.messages-value")
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == 100
    assert codec.decode(data).value["station_id"] == "CP-1"
    # a reader with a registry still reads single-object records (told apart by the first byte)
    assert codec.decode(AvroCodec().encode("csms.ocpp.OcppMessage", message()))


def test_evolution_old_writer_new_reader() -> None:
    """A record written with an older schema decodes with the current one (the new field takes its default)."""
    old = {"type": "record", "name": "Thing", "namespace": "csms.t",
           "fields": [{"name": "event_id", "type": "string"}, {"name": "a", "type": "long"}]}
    new = {**old, "fields": [*old["fields"], {"name": "b", "type": ["null", "string"], "default": None}]}
    data = AvroCodec(SchemaCatalog([_schema(old)])).encode("csms.t.Thing", {"event_id": "e", "a": 5})
    catalog = SchemaCatalog([_schema(new)], history=[_schema(old)])
    assert AvroCodec(catalog).decode(data).value == {"event_id": "e", "a": 5, "b": None}
    with pytest.raises(DecodeError, match="unknown schema fingerprint"):
        AvroCodec(SchemaCatalog([_schema(new)])).decode(data)  # without the old writer in history


def _schema(raw: dict[str, object]) -> AvroSchema:
    from schemas.catalog import _build

    return _build(raw, None)


@pytest.mark.parametrize(
    ("data", "unknown"),
    [
        (b"", False),
        (b"{\"json\": true}", False),
        (b"\xc3\x01" + b"\x00" * 8 + b"\x02", True),
        (b"\x00\x00\x00\x00\x01\x02", False),  # Confluent framing but no registry configured
    ],
)
def test_bad_bytes_raise_decode_error(data: bytes, unknown: bool) -> None:
    with pytest.raises(DecodeError) as info:
        AvroCodec().decode(data)
    assert info.value.unknown_schema is unknown


def test_truncated_body_is_a_decode_error() -> None:
    data = AvroCodec().encode("csms.ocpp.OcppMessage", message())
    with pytest.raises(DecodeError, match="corrupt"):
        AvroCodec().decode(data[:20])


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_but_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        AvroCodec().decode(data)


def test_unknown_schema_name_is_a_schema_error() -> None:
    with pytest.raises(SchemaError):
        AvroCodec().encode("csms.nope.Nothing", {})

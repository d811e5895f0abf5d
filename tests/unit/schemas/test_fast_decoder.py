"""The compiled decoder returns exactly what fastavro returns (for every schema it accepts), and refuses corrupt
or truncated bodies."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from fastavro import schemaless_reader, schemaless_writer
from hypothesis import given
from hypothesis import strategies as st

from schemas import AvroCodec, DecodeError, default_catalog
from tests.contract.record_samples import example

FAST = [s for s in default_catalog() if s.fast_decoder is not None]
OCPP = default_catalog().get("csms.ocpp.OcppMessage")


def body(schema, value) -> bytes:
    buf = io.BytesIO()
    schemaless_writer(buf, schema.parsed, value)
    return buf.getvalue()


def fastavro_value(schema, data: bytes):
    return schemaless_reader(io.BytesIO(data), schema.parsed, schema.parsed)


def test_the_hot_schemas_have_a_compiled_decoder():
    assert {"csms.ocpp.OcppMessage", "csms.ocpp.ConnectionEvent"} <= {s.name for s in FAST}


@pytest.mark.parametrize("schema", FAST, ids=lambda s: s.name)
def test_identical_to_fastavro_on_samples(schema):
    raw = json.loads(schema.source.read_text())
    value = example(raw)
    nulls = {f["name"]: None for f in raw["fields"] if isinstance(f["type"], list) and "null" in f["type"]}
    for record in (value, {**value, **nulls}):
        data = body(schema, record)
        assert schema.fast_decoder(b"xx" + data, 2) == fastavro_value(schema, data)


@given(
    station=st.text(max_size=60), payload=st.none() | st.text(max_size=3000),
    seq=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    when=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
    charger=st.none() | st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1),
                                     timezones=st.just(UTC)),
    kind=st.sampled_from(["CALL", "CALLRESULT", "CALLERROR", "SEND"]),
)
def test_identical_to_fastavro_on_random_ocpp_messages(station, payload, seq, when, charger, kind):
    value = {"event_id": "0b7e3c52-7d0c-4f0e-9a53-8f1c2b7f6c11", "station_id": station, "edge_id": "e",
             "connection_id": "c", "ocpp_version": "ocpp2.1", "direction": "CSMS_TO_CHARGER", "message_type": kind,
             "message_id": "m", "action": None, "payload_json": payload, "error_code": None,
             "error_description": payload, "error_details_json": None, "charger_timestamp": charger,
             "received_at": when, "sequence": seq, "in_reply_to": None, "command_id": None,
             "request_payload_json": payload}
    data = body(OCPP, value)
    decoded = OCPP.fast_decoder(data, 0)
    assert decoded == fastavro_value(OCPP, data)
    assert decoded["received_at"] == when and decoded["sequence"] == seq


def test_corrupt_and_truncated_bodies_are_refused():
    codec = AvroCodec()
    value = json.loads(OCPP.source.read_text())
    encoded = codec.encode(OCPP.name, example(value))
    assert codec.decode(encoded).value == fastavro_value(OCPP, encoded[10:])
    for broken in (encoded[:-3], encoded[:12], encoded[:10] + b"\xff" * 40):
        with pytest.raises(DecodeError):
            codec.decode(broken)

"""The compiled encoder writes exactly the bytes fastavro writes (for every schema it accepts)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from fastavro import schemaless_writer
from hypothesis import given
from hypothesis import strategies as st

from schemas import default_catalog
from tests.contract.record_samples import example

FAST = [s for s in default_catalog() if s.fast_encoder is not None]


def fastavro_bytes(schema, value) -> bytes:
    buf = io.BytesIO()
    schemaless_writer(buf, schema.parsed, value)
    return buf.getvalue()


def test_the_hot_schemas_are_compiled():
    names = {s.name for s in FAST}
    assert {"csms.ocpp.OcppMessage", "csms.ocpp.ConnectionEvent", "csms.common.Command"} <= names


@pytest.mark.parametrize("schema", FAST, ids=lambda s: s.name)
def test_identical_to_fastavro_on_samples(schema):
    raw = json.loads(schema.source.read_text())
    value = example(raw)
    assert schema.fast_encoder(value) == fastavro_bytes(schema, value)
    nulls = {f["name"]: None for f in raw["fields"] if isinstance(f["type"], list) and "null" in f["type"]}
    assert schema.fast_encoder({**value, **nulls}) == fastavro_bytes(schema, {**value, **nulls})


OCPP = default_catalog().get("csms.ocpp.OcppMessage")
texts = st.text(max_size=60)
optional_texts = st.none() | texts


@given(
    station=texts, seq=st.integers(min_value=-(2**63), max_value=2**63 - 1), payload=optional_texts,
    when=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
    charger=st.none() | st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1),
                                     timezones=st.just(UTC)),
    direction=st.sampled_from(["CHARGER_TO_CSMS", "CSMS_TO_CHARGER"]),
    kind=st.sampled_from(["CALL", "CALLRESULT", "CALLERROR", "SEND"]),
)
def test_identical_to_fastavro_on_random_ocpp_messages(station, seq, payload, when, charger, direction, kind):
    value = {"event_id": "0b7e3c52-7d0c-4f0e-9a53-8f1c2b7f6c11", "station_id": station, "edge_id": "e",
             "connection_id": "c", "ocpp_version": "ocpp1.6", "direction": direction, "message_type": kind,
             "message_id": "m", "action": None, "payload_json": payload, "error_code": None,
             "error_description": payload, "error_details_json": None, "charger_timestamp": charger,
             "received_at": when, "sequence": seq, "in_reply_to": None, "command_id": None,
             "request_payload_json": payload}
    assert OCPP.fast_encoder(value) == fastavro_bytes(OCPP, value)


@given(payload=st.text(min_size=60, max_size=3000), error=st.none() | st.text(max_size=200),
       seq=st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_identical_to_fastavro_on_long_texts(payload, error, seq):
    """Lengths of 64 bytes and more take the multi-byte varint path of the generated encoder."""
    value = {"event_id": "0b7e3c52-7d0c-4f0e-9a53-8f1c2b7f6c11", "station_id": "S" * 48, "edge_id": "e",
             "connection_id": "c", "ocpp_version": "ocpp2.1", "direction": "CHARGER_TO_CSMS", "message_type": "CALL",
             "message_id": "m", "action": "MeterValues", "payload_json": payload, "error_code": error,
             "error_description": error, "error_details_json": payload, "charger_timestamp": None,
             "received_at": datetime(2026, 11, 28, tzinfo=UTC), "sequence": seq, "in_reply_to": None,
             "command_id": None, "request_payload_json": payload}
    assert OCPP.fast_encoder(value) == fastavro_bytes(OCPP, value)

"""OCPP 1.6 and 2.0.1/2.1 payloads -> billing inputs. Every payload is checked against the official schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import ocpp
import pytest

from processors.billing.domain import (
    TxEnded,
    TxMeter,
    TxStarted,
    from_v2_transaction_event,
    from_v16_meter_values,
    from_v16_start,
    from_v16_stop,
    parse_timestamp,
    readings_from_v2,
    readings_from_v16,
)
from processors.billing.domain.meter import CURRENT, INTERVAL, REGISTER

SCHEMAS = Path(ocpp.__file__).parent
RECEIVED = datetime(2024, 3, 1, 10, 0, 5, tzinfo=UTC)


def valid(version: str, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    schema = json.loads((SCHEMAS / version / "schemas" / f"{name}.json").read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(payload)
    return payload


def test_v16_start_takes_the_transaction_id_and_status_from_the_answer() -> None:
    request = valid("v16", "StartTransaction", {
        "connectorId": 2, "idTag": "TAG1", "meterStart": 12345, "timestamp": "2024-03-01T10:00:00Z",
    })
    answer = valid("v16", "StartTransactionResponse", {"transactionId": 77, "idTagInfo": {"status": "Accepted"}})
    started = from_v16_start(request, answer, event_id="e1", station_id="CS1", received_at=RECEIVED, driver_id="D1")
    assert isinstance(started, TxStarted)
    assert started.transaction_id == "77"
    assert started.evse_id == started.connector_id == 2
    assert started.meter_start_wh == Decimal(12345)
    assert started.timestamp == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    assert started.received_at == RECEIVED
    assert started.authorized is True
    assert started.driver_id == "D1"
    assert started.seq_no is None


def test_v16_start_with_a_rejected_tag_is_not_authorized() -> None:
    # 1.6: a StartTransaction with a bad idTag still gets a transactionId, with status Invalid.
    request = {"connectorId": 1, "idTag": "BAD", "meterStart": 0, "timestamp": "2024-03-01T10:00:00Z"}
    answer = valid("v16", "StartTransactionResponse", {"transactionId": 5, "idTagInfo": {"status": "Invalid"}})
    assert from_v16_start(request, answer, event_id="e", station_id="CS1", received_at=RECEIVED).authorized is False


def test_v16_meter_values_defaults_to_the_energy_register_in_wh() -> None:
    # 1.6 SampledValue: measurand defaults to Energy.Active.Import.Register, unit to Wh, context to Sample.Periodic.
    payload = valid("v16", "MeterValues", {
        "connectorId": 1, "transactionId": 77,
        "meterValue": [{"timestamp": "2024-03-01T10:15:00Z", "sampledValue": [{"value": "15000"}]}],
    })
    meter = from_v16_meter_values(payload, event_id="e2", station_id="CS1", received_at=RECEIVED)
    assert isinstance(meter, TxMeter)
    (reading,) = meter.readings
    assert (reading.measurand, reading.unit, reading.value, reading.context) == (
        REGISTER, "Wh", Decimal(15000), "Sample.Periodic")
    assert meter.timestamp == datetime(2024, 3, 1, 10, 15, tzinfo=UTC)


def test_v16_meter_values_converts_kwh_keeps_phases_and_skips_signed_blobs_and_other_measurands() -> None:
    payload = valid("v16", "MeterValues", {
        "connectorId": 1, "transactionId": 77,
        "meterValue": [{"timestamp": "2024-03-01T10:15:00Z", "sampledValue": [
            {"value": "15.5", "unit": "kWh", "measurand": REGISTER, "context": "Sample.Clock"},
            {"value": "5.1", "unit": "kWh", "measurand": REGISTER, "phase": "L1"},
            {"value": "16", "unit": "A", "measurand": CURRENT, "phase": "L1"},
            {"value": "QUJD", "format": "SignedData"},
            {"value": "230", "unit": "V", "measurand": "Voltage"},
            {"value": "not-a-number"},
        ]}],
    })
    meter = from_v16_meter_values(payload, event_id="e2", station_id="CS1", received_at=RECEIVED)
    assert meter is not None
    assert [(r.measurand, r.phase, r.value, r.unit) for r in meter.readings] == [
        (REGISTER, None, Decimal("15500.0"), "Wh"),
        (REGISTER, "L1", Decimal("5100.0"), "Wh"),
        (CURRENT, "L1", Decimal(16), "A"),
    ]


def test_v16_meter_values_without_a_transaction_is_not_billed() -> None:
    payload = valid("v16", "MeterValues", {
        "connectorId": 1, "meterValue": [{"timestamp": "2024-03-01T10:15:00Z", "sampledValue": [{"value": "1"}]}],
    })
    assert from_v16_meter_values(payload, event_id="e", station_id="CS1", received_at=RECEIVED) is None


def test_v16_stop_carries_meter_stop_reason_and_transaction_data() -> None:
    payload = valid("v16", "StopTransaction", {
        "transactionId": 77, "meterStop": 20000, "timestamp": "2024-03-01T11:00:00Z", "reason": "EVDisconnected",
        "idTag": "TAG1",
        "transactionData": [{"timestamp": "2024-03-01T11:00:00Z", "sampledValue": [
            {"value": "20.0", "unit": "kWh", "context": "Transaction.End"}]}],
    })
    ended = from_v16_stop(payload, event_id="e3", station_id="CS1", received_at=RECEIVED)
    assert isinstance(ended, TxEnded)
    assert (ended.meter_stop_wh, ended.stop_reason, ended.synthetic) == (Decimal(20000), "EVDisconnected", False)
    assert ended.readings[0].context == "Transaction.End"
    assert ended.readings[0].value == Decimal(20000)


def test_v16_stop_without_reason_is_local() -> None:
    # 1.6 StopTransaction.req: reason "may only be omitted when the Reason is Local".
    payload = {"transactionId": 77, "meterStop": 1, "timestamp": "2024-03-01T11:00:00Z"}
    assert from_v16_stop(payload, event_id="e", station_id="CS1", received_at=RECEIVED).stop_reason == "Local"


def v2_event(event_type: str, seq_no: int, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "eventType": event_type, "timestamp": "2024-03-01T10:00:00.000Z", "triggerReason": "Authorized",
        "seqNo": seq_no, "transactionInfo": {"transactionId": "tx-abc"}, **extra,
    }
    valid("v201", "TransactionEventRequest", payload)
    return valid("v21", "TransactionEventRequest", payload)


@pytest.mark.parametrize(("event_type", "kind"), [("Started", TxStarted), ("Updated", TxMeter), ("Ended", TxEnded)])
def test_v2_transaction_event_kinds(event_type: str, kind: type) -> None:
    tx = from_v2_transaction_event(v2_event(event_type, 3), event_id="e", station_id="CS2", received_at=RECEIVED)
    assert type(tx) is kind
    assert (tx.transaction_id, tx.seq_no, tx.offline) == ("tx-abc", 3, False)


def test_v2_started_carries_evse_token_state_offline_and_readings() -> None:
    payload = v2_event(
        "Started", 0, offline=True, evse={"id": 2, "connectorId": 1}, idToken={"idToken": "T1", "type": "ISO14443"},
        transactionInfo={"transactionId": "tx-abc", "chargingState": "Charging"},
        meterValue=[{"timestamp": "2024-03-01T10:00:00Z", "sampledValue": [
            {"value": 1.5, "context": "Transaction.Begin", "unitOfMeasure": {"unit": "kWh"}},
            {"value": 12.3, "measurand": REGISTER, "unitOfMeasure": {"unit": "Wh", "multiplier": 3}},
        ]}],
    )
    answer = valid("v201", "TransactionEventResponse", {"idTokenInfo": {"status": "Blocked"}})
    tx = from_v2_transaction_event(payload, event_id="e", station_id="CS2", received_at=RECEIVED, answer=answer)
    assert (tx.evse_id, tx.connector_id, tx.id_token, tx.charging_state) == (2, 1, "T1", "Charging")
    assert tx.offline is True
    assert tx.authorized is False
    assert [r.value for r in tx.readings] == [Decimal(1500), Decimal(12300)]
    assert all(isinstance(r.value, Decimal) for r in tx.readings)


def test_v2_ended_reason_defaults_to_local() -> None:
    ended = from_v2_transaction_event(v2_event("Ended", 9), event_id="e", station_id="CS2", received_at=RECEIVED)
    assert isinstance(ended, TxEnded)
    assert ended.stop_reason == "Local"
    stopped = v2_event("Ended", 9, transactionInfo={"transactionId": "tx-abc", "stoppedReason": "EVDisconnected"})
    ended = from_v2_transaction_event(stopped, event_id="e", station_id="CS2", received_at=RECEIVED)
    assert isinstance(ended, TxEnded)
    assert ended.stop_reason == "EVDisconnected"


def test_v2_signed_meter_value_uses_the_plain_value() -> None:
    values = readings_from_v2([{"timestamp": "2024-03-01T10:00:00Z", "sampledValue": [{
        "value": 42, "signedMeterValue": {"signedMeterData": "QUJD", "signingMethod": "ECDSA", "encodingMethod": "OCMF",
                                          "publicKey": "S0VZ"}}]}])
    assert [(v.value, v.signed) for v in values] == [(Decimal(42), True)]


def test_v2_float_values_become_their_decimal_text() -> None:
    (reading,) = readings_from_v2([{"timestamp": "2024-03-01T10:00:00Z", "sampledValue": [{"value": 0.1}]}])
    assert reading.value == Decimal("0.1")


def test_v2_interval_and_current_measurands_are_kept() -> None:
    readings = readings_from_v2([{"timestamp": "2024-03-01T10:00:00Z", "sampledValue": [
        {"value": 250, "measurand": INTERVAL}, {"value": 32, "measurand": CURRENT, "unitOfMeasure": {"unit": "A"}},
        {"value": 80, "measurand": "SoC", "unitOfMeasure": {"unit": "Percent"}}]}])
    assert [r.measurand for r in readings] == [INTERVAL, CURRENT]


def test_v16_readings_default_context_and_location() -> None:
    (reading,) = readings_from_v16([{"timestamp": "2024-03-01T10:00:00Z", "sampledValue": [{"value": "1"}]}])
    assert (reading.context, reading.location, reading.phase) == ("Sample.Periodic", "Outlet", None)


@pytest.mark.parametrize("raw", ["2024-03-01T10:00:00Z", "2024-03-01T10:00:00+00:00", "2024-03-01T11:00:00+01:00",
                                 "2024-03-01T10:00:00"])
def test_timestamps_are_aware_utc(raw: str) -> None:
    assert parse_timestamp(raw) == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert parse_timestamp(raw).tzinfo is UTC

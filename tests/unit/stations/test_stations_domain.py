"""The stations domain and OCPP translation, pure (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pydantic
import pytest

from processors.runtime import OcppExchange
from processors.stations import payloads
from processors.stations.domain import (
    Registration,
    StationError,
    boot_details,
    coordinate,
    normalise_status,
    registration_from_boot_answer,
    transition,
)
from processors.stations.passwords import hash_password, verify_password
from processors.stations.translate import configuration, connector_statuses

AT = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def ex(action: str, request: dict | None = None, payload: dict | None = None, *, version: str = "ocpp1.6",
       by_charger: bool = False) -> OcppExchange:
    return OcppExchange("ev-1", "CS-1", version, "CHARGER_TO_CSMS" if by_charger else "CSMS_TO_CHARGER",
                        "CALLRESULT", "m1", action, payload or {}, request or {}, None, AT, None, None)


@pytest.mark.parametrize(("current", "action", "target"), [
    ("PENDING", "approve", "ACCEPTED"), ("REJECTED", "approve", "ACCEPTED"), ("ACCEPTED", "approve", "ACCEPTED"),
    ("PENDING", "reject", "REJECTED"), ("ACCEPTED", "reject", "REJECTED"),
    ("ACCEPTED", "decommission", "DECOMMISSIONED"), ("PENDING", "decommission", "DECOMMISSIONED"),
])
def test_lifecycle_transitions(current, action, target):
    assert transition(current, action) == Registration(target)


@pytest.mark.parametrize("action", ["approve", "reject", "decommission"])
def test_a_decommissioned_station_takes_no_transition(action):
    with pytest.raises(StationError) as err:
        transition("DECOMMISSIONED", action)
    assert err.value.status == "CONFLICT"


def test_unknown_boots_are_recorded_as_the_edge_answered():
    assert registration_from_boot_answer("Pending") == Registration.PENDING
    assert registration_from_boot_answer("Accepted") == Registration.ACCEPTED
    assert registration_from_boot_answer("Rejected") == Registration.REJECTED
    assert registration_from_boot_answer(None) == Registration.PENDING


def test_status_names_of_both_versions_normalise_to_one_model():
    assert normalise_status("SuspendedEVSE") == "SuspendedEVSE"
    assert normalise_status("Occupied") == "Occupied"
    assert normalise_status("available") == "Available"
    assert normalise_status("Broken") is None


def test_coordinates_keep_eight_places_within_bounds():
    assert coordinate("52.520008123", bound=90, name="latitude") == Decimal("52.52000812")
    assert coordinate(-179.999999999, bound=180, name="longitude") == Decimal("-180.00000000")
    for bad in (90.1, "nan", "north"):
        with pytest.raises(StationError):
            coordinate(bad, bound=90, name="latitude")


def test_boot_details_of_both_versions():
    assert boot_details("ocpp1.6", {"chargePointVendor": "A", "chargePointModel": "B",
                                    "chargeBoxSerialNumber": "S", "firmwareVersion": "F"}) == {
        "vendor": "A", "model": "B", "serial_number": "S", "firmware_version": "F"}
    assert boot_details("ocpp2.0.1", {"chargingStation": {"vendorName": "V", "model": "M"}}) == {
        "vendor": "V", "model": "M", "serial_number": None, "firmware_version": None}


def test_v16_status_notification_maps_connector_to_evse_and_drops_no_error():
    [fact] = connector_statuses(ex("StatusNotification", {"connectorId": 2, "status": "Charging",
                                                          "errorCode": "NoError",
                                                          "timestamp": "2026-03-01T07:59:00Z"}))
    assert (fact.evse_id, fact.connector_id, fact.status, fact.error_code) == (2, 1, "Charging", None)
    assert fact.charger_timestamp == datetime(2026, 3, 1, 7, 59, tzinfo=UTC) and fact.received_at == AT
    [station] = connector_statuses(ex("StatusNotification", {"connectorId": 0, "status": "Faulted",
                                                             "errorCode": "PowerMeterFailure"}))
    assert (station.evse_id, station.connector_id, station.error_code) == (0, 0, "PowerMeterFailure")


def test_v2_status_notification_and_availability_events():
    [fact] = connector_statuses(ex("StatusNotification", {"connectorStatus": "Occupied", "evseId": 3,
                                                          "connectorId": 2}, version="ocpp2.0.1"))
    assert (fact.evse_id, fact.connector_id, fact.status) == (3, 2, "Occupied")
    facts = list(connector_statuses(ex("NotifyEvent", {"eventData": [
        {"actualValue": "Faulted", "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
         "variable": {"name": "AvailabilityState"}},
        {"actualValue": "Faulted", "component": {"name": "Connector"}, "variable": {"name": "AvailabilityState"}},
        {"actualValue": "1", "component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"}},
    ]}, version="ocpp2.0.1")))
    assert [(f.evse_id, f.status, f.item) for f in facts] == [(1, "Faulted", 0)]


def test_configuration_from_get_configuration_and_notify_report():
    keys = list(configuration(ex("GetConfiguration", {}, {"configurationKey": [
        {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"}]}, by_charger=True)))
    assert [(k.key, k.value, k.readonly, k.source) for k in keys] == [
        ("MeterValueSampleInterval", "60", False, "GetConfiguration")]
    variables = list(configuration(ex("NotifyReport", {"reportData": [{
        "component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"},
        "variableAttribute": [{"type": "Actual", "value": "22000", "mutability": "ReadOnly"},
                              {"type": "MaxSet", "value": "11000"}]}]}, version="ocpp2.0.1")))
    assert [(v.key, v.value, v.readonly) for v in variables] == [
        ("EVSE//1//Power//Actual", "22000", True), ("EVSE//1//Power//MaxSet", "11000", None)]


def test_register_payload_validation():
    ok = payloads.RegisterStation.model_validate({"latitude": "48.1", "evses": [
        {"evse_id": 1, "connectors": [{"connector_id": 1, "connector_type": "CHADEMO"}]}]})
    assert ok.latitude == Decimal("48.10000000") and ok.status == "ACCEPTED"
    for bad in ({"password": "short"}, {"evses": [{"evse_id": 1, "connectors": [
            {"connector_id": 1, "connector_type": "PLUG"}]}]}, {"station_id": "has space"}, {"unknown": 1},
                {"allowed_ocpp_versions": ["ocpp1.5"]}):
        with pytest.raises(pydantic.ValidationError):
            payloads.RegisterStation.model_validate(bad)


def test_password_hash_is_salted_per_command_and_verifies():
    first = hash_password("correct-horse-battery", "cmd-1:CS-1")
    assert first.startswith("$argon2id$") and "correct-horse" not in first
    assert first == hash_password("correct-horse-battery", "cmd-1:CS-1")  # a replay rebuilds the same hash
    assert first != hash_password("correct-horse-battery", "cmd-2:CS-1")
    assert verify_password(first, "correct-horse-battery") and not verify_password(first, "wrong-password-xx")

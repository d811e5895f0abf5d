"""OCPP payloads of a simulated charger, per version (plain dicts, camelCase, as on the wire)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

V16, V201, V21 = "ocpp1.6", "ocpp2.0.1", "ocpp2.1"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def boot(version: str, station_id: str) -> dict[str, Any]:
    if version == V16:
        return {"chargePointVendor": "SimCo", "chargePointModel": "Sim-22", "chargePointSerialNumber": station_id,
                "firmwareVersion": "1.0.0"}
    return {"chargingStation": {"vendorName": "SimCo", "model": "Sim-22", "serialNumber": station_id,
                                "firmwareVersion": "1.0.0"}, "reason": "PowerUp"}


def status(version: str, connector: int, state: str) -> dict[str, Any]:
    if version == V16:
        return {"connectorId": connector, "errorCode": "NoError", "status": state, "timestamp": now()}
    v2 = {"Preparing": "Occupied", "Charging": "Occupied", "Finishing": "Occupied"}.get(state, state)
    return {"timestamp": now(), "connectorStatus": v2, "evseId": connector, "connectorId": 1}


def authorize(version: str, token: str) -> dict[str, Any]:
    if version == V16:
        return {"idTag": token}
    return {"idToken": {"idToken": token, "type": "ISO14443"}}


def sampled_values(version: str, energy_wh: float, power_w: float, count: int) -> list[dict[str, Any]]:
    """`count` sampled values: the energy register first, then power/current/voltage per phase."""
    extra = [("Power.Active.Import", power_w, "W", None), ("Current.Import", power_w / 690, "A", "L1"),
             ("Current.Import", power_w / 690, "A", "L2"), ("Current.Import", power_w / 690, "A", "L3"),
             ("Voltage", 230.0, "V", "L1-N"), ("Voltage", 231.0, "V", "L2-N"), ("Voltage", 229.0, "V", "L3-N"),
             ("SoC", 55.0, "Percent", None), ("Power.Offered", 22000.0, "W", None)]
    rows = [("Energy.Active.Import.Register", energy_wh, "Wh", None), *extra][:count]
    out = []
    for measurand, value, unit, phase in rows:
        if version == V16:
            item: dict[str, Any] = {"value": f"{value:.1f}", "measurand": measurand, "unit": unit,
                                    "context": "Sample.Periodic", "location": "Outlet"}
        else:
            item = {"value": round(value, 1), "measurand": measurand, "unitOfMeasure": {"unit": unit},
                    "context": "Sample.Periodic", "location": "Outlet"}
        if phase:
            item["phase"] = phase
        out.append(item)
    return out


def meter_values(version: str, connector: int, tx_id: int | str | None, energy_wh: float, power_w: float,
                 count: int = 10) -> dict[str, Any]:
    values = [{"timestamp": now(), "sampledValue": sampled_values(version, energy_wh, power_w, count)}]
    if version == V16:
        body: dict[str, Any] = {"connectorId": connector, "meterValue": values}
        if tx_id is not None:
            body["transactionId"] = tx_id
        return body
    return {"evseId": connector, "meterValue": values}


def start(version: str, connector: int, token: str, meter_wh: int, tx_id: str, seq: int) -> dict[str, Any]:
    if version == V16:
        return {"connectorId": connector, "idTag": token, "meterStart": meter_wh, "timestamp": now()}
    return {"eventType": "Started", "timestamp": now(), "triggerReason": "Authorized", "seqNo": seq,
            "transactionInfo": {"transactionId": tx_id, "chargingState": "Charging"},
            "idToken": {"idToken": token, "type": "ISO14443"}, "evse": {"id": connector, "connectorId": 1},
            "meterValue": [{"timestamp": now(), "sampledValue": sampled_values(version, meter_wh, 0, 1)}]}


def update(version: str, tx_id: str, seq: int, energy_wh: float, power_w: float, count: int) -> dict[str, Any]:
    return {"eventType": "Updated", "timestamp": now(), "triggerReason": "MeterValuePeriodic", "seqNo": seq,
            "transactionInfo": {"transactionId": tx_id, "chargingState": "Charging"},
            "meterValue": [{"timestamp": now(), "sampledValue": sampled_values(version, energy_wh, power_w, count)}]}


def stop(version: str, tx_id: int | str, token: str, meter_wh: int, seq: int) -> dict[str, Any]:
    if version == V16:
        return {"transactionId": tx_id, "idTag": token, "meterStop": meter_wh, "timestamp": now(), "reason": "Local"}
    return {"eventType": "Ended", "timestamp": now(), "triggerReason": "StopAuthorized", "seqNo": seq,
            "transactionInfo": {"transactionId": tx_id, "stoppedReason": "Local", "chargingState": "Idle"},
            "idToken": {"idToken": token, "type": "ISO14443"},
            "meterValue": [{"timestamp": now(), "sampledValue": sampled_values(version, meter_wh, 0, 1)}]}

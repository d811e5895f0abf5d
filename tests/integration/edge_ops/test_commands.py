"""Commands to chargers through one real edge and the real broker: every outcome of OcppCommandOutcome."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest

from tests.integration.edge import _support as edge
from tests.integration.edge_ops import _support as s

pytestmark = pytest.mark.integration
FAST = {"command_grace_s": 1.0, "command_timeout_s": 1.5, "edge_heartbeat_s": 0.5}


def sid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def script(action: str, payload: dict) -> tuple | None:
    if action == "UnlockConnector":
        return ("error", "NotSupported", "no lock on this model")
    if action == "GetDiagnostics":
        return None  # never answers
    return s.always_accept(action, payload)


async def test_outcomes_of_every_kind(kafka_settings, tmp_path):
    await edge.create_topics(kafka_settings)
    v16, v201, v21, offline = sid("C16"), sid("C201"), sid("C21"), sid("OFF")
    # Accepted in the registry: these chargers never boot, and a Pending one would not get RemoteStart/Reset yet
    # (tests/integration/edge_ops/test_command_registration.py)
    await edge.seed(kafka_settings, [edge.station(v16), edge.station(v201), edge.station(v21)])
    async with edge.running_edge(kafka_settings, tmp_path, **FAST) as e:
        url = f"ws://127.0.0.1:{e.settings.port}/ocpp"
        async with s.ScriptedCharger(url, v16, "ocpp1.6", script) as c16, \
                s.ScriptedCharger(url, v201, "ocpp2.0.1", script) as c201, \
                s.ScriptedCharger(url, v21, "ocpp2.1", script) as c21:
            commands = {
                "reset16": s.command(v16, "Reset", {"type": "Soft"}),
                "start16": s.command(v16, "RemoteStartTransaction", {"idTag": "TAG-1", "connectorId": 1}),
                "invalid": s.command(v16, "Reset", {"type": "Sideways"}),
                "not_csms": s.command(v16, "BootNotification", {"chargePointModel": "M", "chargePointVendor": "V"}),
                "callerror": s.command(v16, "UnlockConnector", {"connectorId": 1}),
                "timeout": s.command(v16, "GetDiagnostics", {"location": "ftp://example.com/"}),
                "reset201": s.command(v201, "Reset", {"type": "Immediate"}),
                "vars201": s.command(v201, "SetVariables", {"setVariableData": [
                    {"attributeValue": "60", "component": {"name": "OCPPCommCtrlr"},
                     "variable": {"name": "HeartbeatInterval"}}]}),
                "cost21": s.command(v21, "CostUpdated", {"totalCost": 1.5, "transactionId": "tx-1"}),
                "not_connected": s.command(offline, "Reset", {"type": "Soft"}),
                "expired": s.command(offline, "Reset", {"type": "Soft"}, expires_in=0.5),
            }
            await s.publish_commands(kafka_settings, *commands.values())
            ids = {c["command_id"]: name for name, c in commands.items()}
            found = await s.outcomes(kafka_settings, set(ids), timeout=12)
        status = {ids[k]: v[0]["status"] for k, v in found.items()}
        assert status == {"reset16": "RESULT", "start16": "RESULT", "invalid": "INVALID", "not_csms": "INVALID",
                          "callerror": "CALLERROR", "timeout": "TIMEOUT", "reset201": "RESULT",
                          "vars201": "RESULT", "cost21": "RESULT", "not_connected": "NOT_CONNECTED",
                          "expired": "EXPIRED"}
        by_name = {ids[k]: v[0] for k, v in found.items()}
        assert orjson.loads(by_name["reset16"]["result_json"]) == {"status": "Accepted"}
        assert (by_name["callerror"]["error_code"], by_name["callerror"]["error_description"]) == (
            "NotSupported", "no lock on this model")
        assert by_name["invalid"]["error_code"] == "PropertyConstraintViolation"
        # one call at a time, in publication order; invalid commands never reach the charger
        assert [action for _, action, _ in c16.received] == ["Reset", "RemoteStartTransaction", "UnlockConnector",
                                                             "GetDiagnostics"]
        assert [a for _, a, _ in c201.received] == ["Reset", "SetVariables"]
        assert [a for _, a, _ in c21.received] == ["CostUpdated"]
        assert all(len(v) == 1 for v in found.values()), "exactly one outcome per command"
    calls = await edge.read_events(kafka_settings, "ocpp.messages", v16, until=7)
    assert {e["command_id"] for e in calls if e["message_type"] == "CALL"} == {
        commands[n]["command_id"] for n in ("reset16", "start16", "callerror", "timeout")}


async def test_a_command_waits_for_its_charger_until_expiry(kafka_settings, tmp_path):
    await edge.create_topics(kafka_settings)
    station = sid("LATE")
    async with edge.running_edge(kafka_settings, tmp_path, **FAST) as e:
        waiting = s.command(station, "TriggerMessage", {"requestedMessage": "Heartbeat"}, expires_in=30)
        await s.publish_commands(kafka_settings, waiting)
        await asyncio.sleep(2.0)  # longer than the grace: a command with an expiry keeps waiting
        async with s.ScriptedCharger(f"ws://127.0.0.1:{e.settings.port}/ocpp", station) as charger:
            found = await s.outcomes(kafka_settings, {waiting["command_id"]}, timeout=10, settle=1.0)
        assert [o["status"] for o in found[waiting["command_id"]]] == ["RESULT"]
        assert [a for _, a, _ in charger.received] == ["TriggerMessage"]

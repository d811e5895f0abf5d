"""Commands respect the station's registration on its connection (OCPP 1.6 section 4.2; 2.0.1/2.1 B02, B03), through
one real edge and the real broker: a command the registration does not allow yet waits in its place (neither sent
nor dropped) until an Accepted BootNotification, or ends EXPIRED at its expiry."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest

from tests.integration.edge import _support as edge
from tests.integration.edge_ops import _support as s

pytestmark = pytest.mark.integration
FAST = {"command_grace_s": 1.0, "command_timeout_s": 1.5, "edge_heartbeat_s": 0.5}
BOOT = {"ocpp1.6": {"chargePointModel": "M", "chargePointVendor": "V"},
        "ocpp2.0.1": {"chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"}}
GET_VARIABLES = {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"},
                                      "variable": {"name": "HeartbeatInterval"}}]}
REMOTE_START_201 = {"idToken": {"idToken": "TAG-1", "type": "ISO14443"}, "remoteStartId": 1}
# version: (a command not allowed while Pending, one that is allowed)
CASES = {
    # 1.6 section 4.2: while Pending "RemoteStartTransaction.req and RemoteStopTransaction.req" are not allowed
    "ocpp1.6": (("RemoteStartTransaction", {"idTag": "TAG-1", "connectorId": 1}), ("Reset", {"type": "Soft"})),
    # B02.FR.05: RequestStartTransaction only once accepted; B02.FR.01: GetVariables (B06) may be sent while Pending
    "ocpp2.0.1": (("RequestStartTransaction", REMOTE_START_201), ("GetVariables", GET_VARIABLES)),
}


def sid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def answer(action: str, payload: dict) -> tuple:
    if action == "GetVariables":
        return ("result", {"getVariableResult": [{"attributeStatus": "Accepted", "attributeValue": "60",
                                                   "component": {"name": "OCPPCommCtrlr"},
                                                   "variable": {"name": "HeartbeatInterval"}}]})
    return ("result", {"status": "Accepted"})


async def until(condition: Callable[[], bool], timeout: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("version", CASES)
async def test_a_command_not_allowed_while_pending_waits_for_the_accepted_boot(kafka_settings, tmp_path, version):
    await edge.create_topics(kafka_settings)
    station = sid("PEND")
    (held, held_payload), (allowed, allowed_payload) = CASES[version]
    await edge.seed(kafka_settings, [edge.station(station, status="PENDING")])
    async with edge.running_edge(kafka_settings, tmp_path, **FAST) as e, \
            s.ScriptedCharger(f"ws://127.0.0.1:{e.settings.port}/ocpp", station, version, answer) as charger:
        assert (await charger.call("BootNotification", BOOT[version]))[2]["status"] == "Pending"
        first = s.command(station, held, held_payload, expires_in=60)
        second = s.command(station, allowed, allowed_payload, expires_in=60)
        await s.publish_commands(kafka_settings, first, second)
        await asyncio.sleep(2.0)  # eight sweeps: the held command keeps its place, the one behind it waits too
        assert charger.received == []
        await edge.seed(kafka_settings, [edge.station(station)])  # the operator accepts the station
        await until(lambda: (e.state.station(station) or {}).get("status") == "ACCEPTED")
        await asyncio.sleep(0.6)
        assert charger.received == [], "accepted in the registry, but this connection was not told so yet"
        boot = await charger.call("BootNotification", BOOT[version])
        assert boot[2]["status"] == "Accepted"
        found = await s.outcomes(kafka_settings, {first["command_id"], second["command_id"]}, timeout=15,
                                 settle=1.0)
    assert {k: [o["status"] for o in v] for k, v in found.items()} == {
        first["command_id"]: ["RESULT"], second["command_id"]: ["RESULT"]}
    assert [a for _, a, _ in charger.received] == [held, allowed]  # publication order kept


async def test_allowed_commands_go_while_pending(kafka_settings, tmp_path):
    """B02.FR.01 (2.0.1: B05-B08) and 1.6 section 4.2 (all but RemoteStart/Stop): sent without waiting."""
    await edge.create_topics(kafka_settings)
    v16, v201 = sid("P16"), sid("P201")
    await edge.seed(kafka_settings, [edge.station(v16, status="PENDING"), edge.station(v201, status="PENDING")])
    async with edge.running_edge(kafka_settings, tmp_path, **FAST) as e:
        url = f"ws://127.0.0.1:{e.settings.port}/ocpp"
        async with s.ScriptedCharger(url, v16, "ocpp1.6", answer) as c16, \
                s.ScriptedCharger(url, v201, "ocpp2.0.1", answer) as c201:
            assert (await c201.call("BootNotification", BOOT["ocpp2.0.1"]))[2]["status"] == "Pending"
            commands = [s.command(v16, "Reset", {"type": "Soft"}), s.command(v201, "GetVariables", GET_VARIABLES),
                        s.command(v201, "TriggerMessage", {"requestedMessage": "BootNotification"})]
            await s.publish_commands(kafka_settings, *commands)
            found = await s.outcomes(kafka_settings, {c["command_id"] for c in commands}, timeout=15, settle=0.5)
    assert [o[0]["status"] for o in found.values()] == ["RESULT"] * 3
    assert [a for _, a, _ in c16.received] == ["Reset"]
    assert [a for _, a, _ in c201.received] == ["GetVariables", "TriggerMessage"]


async def test_nothing_is_sent_to_a_rejected_station_and_its_commands_expire(kafka_settings, tmp_path):
    """B03.FR.03 "The CSMS SHALL NOT initiate any messages" (no exception, not even a BootNotification trigger);
    1.6 section 4.2 "the Central System SHOULD NOT initiate any", here for a 1.6 charger that has not booted on this
    connection and is Rejected in the registry."""
    await edge.create_topics(kafka_settings)
    v16, v201 = sid("R16"), sid("R201")
    await edge.seed(kafka_settings, [edge.station(v16, status="REJECTED"), edge.station(v201, status="REJECTED")])
    async with edge.running_edge(kafka_settings, tmp_path, **FAST) as e:
        url = f"ws://127.0.0.1:{e.settings.port}/ocpp"
        async with s.ScriptedCharger(url, v16, "ocpp1.6", answer) as c16, \
                s.ScriptedCharger(url, v201, "ocpp2.0.1", answer) as c201:
            assert (await c201.call("BootNotification", BOOT["ocpp2.0.1"]))[2]["status"] == "Rejected"
            commands = [s.command(v16, "Reset", {"type": "Soft"}, expires_in=2),
                        s.command(v201, "Reset", {"type": "Immediate"}, expires_in=2),
                        s.command(v201, "TriggerMessage", {"requestedMessage": "BootNotification"}, expires_in=2)]
            await s.publish_commands(kafka_settings, *commands)
            found = await s.outcomes(kafka_settings, {c["command_id"] for c in commands}, timeout=15, settle=1.0)
            assert c16.received == [] and c201.received == []
    assert [[o["status"] for o in v] for v in found.values()] == [["EXPIRED"]] * 3
    for station in (v16, v201):
        events = await edge.read_events(kafka_settings, "ocpp.messages", station, until=3, timeout=3)
        assert not [m for m in events if m["direction"] == "CSMS_TO_CHARGER" and m["message_type"] == "CALL"]


async def test_a_pending_station_may_send_what_the_csms_asked_for(kafka_settings, tmp_path):
    """B02.FR.09 answers SecurityError only to messages the CSMS did not ask for: the NotifyReport that a
    GetBaseReport (B02.FR.01) requests and the StatusNotification a TriggerMessage requests are answered normally;
    an unrequested Heartbeat still gets SecurityError."""
    await edge.create_topics(kafka_settings)
    station = sid("SOL")
    await edge.seed(kafka_settings, [edge.station(station, status="PENDING")])
    async with edge.running_edge(kafka_settings, tmp_path, **FAST) as e, \
            s.ScriptedCharger(f"ws://127.0.0.1:{e.settings.port}/ocpp", station, "ocpp2.0.1", answer) as charger:
        assert (await charger.call("BootNotification", BOOT["ocpp2.0.1"]))[2]["status"] == "Pending"
        assert (await charger.call("Heartbeat", {}))[2] == "SecurityError"
        commands = [s.command(station, "GetBaseReport", {"requestId": 7, "reportBase": "SummaryInventory"}),
                    s.command(station, "TriggerMessage", {"requestedMessage": "StatusNotification",
                                                          "evse": {"id": 1, "connectorId": 1}})]
        await s.publish_commands(kafka_settings, *commands)
        found = await s.outcomes(kafka_settings, {c["command_id"] for c in commands}, timeout=15, settle=0.5)
        assert [o[0]["status"] for o in found.values()] == ["RESULT"] * 2
        report = await charger.call("NotifyReport", {"requestId": 7, "generatedAt": "2026-11-28T10:00:00Z",
                                                     "seqNo": 0, "tbc": False})
        status = await charger.call("StatusNotification", {"timestamp": "2026-11-28T10:00:00Z",
                                                           "connectorStatus": "Available", "evseId": 1,
                                                           "connectorId": 1})
        unasked = await charger.call("Heartbeat", {})
    assert report[0] == 3 and status[0] == 3, (report, status)
    assert unasked[2] == "SecurityError"


async def test_a_station_told_pending_stays_pending_until_it_boots_again(kafka_settings, tmp_path):
    """B02.FR.09: after a Pending BootNotificationResponse, unrequested messages get SecurityError, also once an
    operator has accepted the station in the registry: the station was told Pending and has not booted again."""
    await edge.create_topics(kafka_settings)
    station = sid("TOLD")
    await edge.seed(kafka_settings, [edge.station(station, status="PENDING")])
    async with edge.running_edge(kafka_settings, tmp_path, **FAST) as e, \
            s.ScriptedCharger(f"ws://127.0.0.1:{e.settings.port}/ocpp", station, "ocpp2.0.1", answer) as charger:
        assert (await charger.call("BootNotification", BOOT["ocpp2.0.1"]))[2]["status"] == "Pending"
        await edge.seed(kafka_settings, [edge.station(station)])
        await until(lambda: (e.state.station(station) or {}).get("status") == "ACCEPTED")
        assert (await charger.call("Heartbeat", {}))[2] == "SecurityError"
        assert (await charger.call("BootNotification", BOOT["ocpp2.0.1"]))[2]["status"] == "Accepted"
        assert (await charger.call("Heartbeat", {}))[0] == 3

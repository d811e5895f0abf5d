"""Chargers of all three OCPP versions (the `ocpp` package's own ChargePoint) against a real edge and broker:
a full session each, every frame read back from Kafka with the codec."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import orjson
import pytest
import websockets
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call as call16
from ocpp.v21 import ChargePoint as Cp21
from ocpp.v21 import call as call21
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call as call201

from tests.integration.edge import _support as s

pytestmark = pytest.mark.integration


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def connect(edge, station_id: str, version: str):
    return await websockets.connect(f"ws://127.0.0.1:{edge.settings.port}/ocpp/{station_id}", subprotocols=[version])


async def with_client(cp_cls, ws, station_id: str, body):
    cp = cp_cls(station_id, ws)
    reader = asyncio.create_task(cp.start())
    try:
        return await body(cp)
    finally:
        reader.cancel()
        await ws.close()


async def test_ocpp16_full_session(kafka_settings, tmp_path):
    await s.create_topics(kafka_settings)
    sid = f"CP16-{uuid.uuid4().hex[:6]}"
    await s.seed(kafka_settings, [s.station(sid, heartbeat_interval_s=90)], [s.token("TAG16OK"),
                                                                              s.token("TAG16BLK", "BLOCKED")])
    async with s.running_edge(kafka_settings, tmp_path) as edge:
        ws = await connect(edge, sid, "ocpp1.6")

        async def session(cp: Cp16):
            boot = await cp.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
            assert (boot.status, boot.interval) == ("Accepted", 90)
            beat = await cp.call(call16.Heartbeat())
            assert beat.current_time.endswith("Z")
            assert (await cp.call(call16.Authorize(id_tag="TAG16OK"))).id_tag_info["status"] == "Accepted"
            assert (await cp.call(call16.Authorize(id_tag="TAG16BLK"))).id_tag_info["status"] == "Blocked"
            assert (await cp.call(call16.Authorize(id_tag="NOBODY"))).id_tag_info["status"] == "Invalid"
            await cp.call(call16.StatusNotification(connector_id=1, error_code="NoError", status="Preparing"))
            start = await cp.call(call16.StartTransaction(connector_id=1, id_tag="TAG16OK", meter_start=1000,
                                                          timestamp=now()))
            assert start.id_tag_info["status"] == "Accepted"
            assert 0 < start.transaction_id < 2**31
            await cp.call(call16.MeterValues(connector_id=1, transaction_id=start.transaction_id, meter_value=[
                {"timestamp": now(), "sampledValue": [{"value": "1500", "measurand": "Energy.Active.Import.Register",
                                                        "unit": "Wh"}]}]))
            stop = await cp.call(call16.StopTransaction(meter_stop=2500, timestamp=now(),
                                                        transaction_id=start.transaction_id, id_tag="TAG16OK"))
            assert stop.id_tag_info["status"] == "Accepted"
            return start.transaction_id

        tx_id = await with_client(Cp16, ws, sid, session)
    events = await s.read_events(kafka_settings, "ocpp.messages", sid, until=18)
    assert len(events) == 18  # 9 CALLs, each followed by the edge's CALLRESULT
    assert [e["sequence"] for e in events] == list(range(18))
    assert [e["message_type"] for e in events] == ["CALL", "CALLRESULT"] * 9
    assert all(e["ocpp_version"] == "ocpp1.6" for e in events)
    start_result = next(e for e in events if e["action"] == "StartTransaction" and e["message_type"] == "CALLRESULT")
    assert orjson.loads(start_result["payload_json"])["transactionId"] == tx_id
    assert orjson.loads(start_result["request_payload_json"])["idTag"] == "TAG16OK"
    assert start_result["in_reply_to"] == events[events.index(start_result) - 1]["event_id"]
    assert start_result["direction"] == "CSMS_TO_CHARGER"
    assert events[0]["charger_timestamp"] is None and events[12]["charger_timestamp"] is not None
    connections = await s.read_events(kafka_settings, "ocpp.connections", sid, until=2)
    assert [c["kind"] for c in connections] == ["CONNECTED", "DISCONNECTED"]


async def test_ocpp201_full_session(kafka_settings, tmp_path):
    await s.create_topics(kafka_settings)
    sid = f"CP201-{uuid.uuid4().hex[:6]}"
    await s.seed(kafka_settings, [s.station(sid)], [s.token("RFID201", token_type="ISO14443")])
    async with s.running_edge(kafka_settings, tmp_path) as edge:
        ws = await connect(edge, sid, "ocpp2.0.1")

        async def session(cp: Cp201):
            boot = await cp.call(call201.BootNotification(charging_station={"model": "M", "vendorName": "V"},
                                                          reason="PowerUp"))
            assert boot.status == "Accepted"
            await cp.call(call201.StatusNotification(timestamp=now(), connector_status="Occupied", evse_id=1,
                                                     connector_id=1))
            auth = await cp.call(call201.Authorize(id_token={"idToken": "RFID201", "type": "ISO14443"}))
            assert auth.id_token_info["status"] == "Accepted"
            tx = {"transactionId": "tx-201-1"}
            started = await cp.call(call201.TransactionEvent(
                event_type="Started", timestamp=now(), trigger_reason="Authorized", seq_no=0, transaction_info=tx,
                id_token={"idToken": "RFID201", "type": "ISO14443"}, evse={"id": 1, "connectorId": 1}))
            assert started.id_token_info["status"] == "Accepted"
            await cp.call(call201.TransactionEvent(
                event_type="Updated", timestamp=now(), trigger_reason="MeterValuePeriodic", seq_no=1,
                transaction_info=tx, meter_value=[{"timestamp": now(), "sampledValue": [{"value": 1234.5}]}]))
            await cp.call(call201.TransactionEvent(event_type="Ended", timestamp=now(), trigger_reason="StopAuthorized",
                                                   seq_no=2, transaction_info={**tx, "stoppedReason": "Local"}))

        await with_client(Cp201, ws, sid, session)
    events = await s.read_events(kafka_settings, "ocpp.messages", sid, until=12)
    assert [(e["action"], e["message_type"]) for e in events[::2]] == [
        ("BootNotification", "CALL"), ("StatusNotification", "CALL"), ("Authorize", "CALL"),
        ("TransactionEvent", "CALL"), ("TransactionEvent", "CALL"), ("TransactionEvent", "CALL")]
    assert all(e["message_type"] == "CALLRESULT" for e in events[1::2])


async def test_ocpp21_boot_and_heartbeat_and_unknown_station_pending(kafka_settings, tmp_path):
    await s.create_topics(kafka_settings)
    sid = f"CP21-{uuid.uuid4().hex[:6]}"
    async with s.running_edge(kafka_settings, tmp_path, unknown_stations="pending") as edge:
        ws = await connect(edge, sid, "ocpp2.1")

        async def session(cp: Cp21):
            boot = await cp.call(call21.BootNotification(charging_station={"model": "M", "vendorName": "V"},
                                                         reason="PowerUp"))
            assert boot.status == "Pending"
            return boot

        await with_client(Cp21, ws, sid, session)
    events = await s.read_events(kafka_settings, "ocpp.messages", sid, until=2)
    assert orjson.loads(events[1]["payload_json"])["status"] == "Pending"

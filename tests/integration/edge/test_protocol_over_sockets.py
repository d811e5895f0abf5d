"""The edge's answers over real sockets: every charger-initiated action of every version answered with a
response that passes the official response schema; bad frames get the version's CALLERROR and never kill the
connection; upgrades are refused with a clear status; oversize frames close with 1009; one socket per station."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ocpp_edge import protocol as p
from tests.contract.test_ocpp_actions import SCHEMAS, minimal
from tests.integration.edge import _support as s

pytestmark = pytest.mark.integration


async def open_ws(edge, station_id: str, version: str | None = "ocpp1.6", **kw):
    protocols = [version] if version else None
    return await websockets.connect(f"ws://127.0.0.1:{edge.settings.port}/ocpp/{station_id}",
                                    subprotocols=protocols, **kw)


async def rpc(ws, frame) -> list:
    await ws.send(frame if isinstance(frame, str | bytes) else orjson.dumps(frame).decode())
    return orjson.loads(await asyncio.wait_for(ws.recv(), 10))


@pytest.fixture
async def edge(kafka_settings, tmp_path):
    await s.create_topics(kafka_settings)
    async with s.running_edge(kafka_settings, tmp_path, max_frame_bytes=8192) as running:
        running.test_kafka = kafka_settings
        yield running


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_every_charger_initiated_action_gets_a_schema_valid_answer(edge, version):
    sid = f"ALL-{uuid.uuid4().hex[:8]}"
    await s.seed(edge.test_kafka, [s.station(sid)])
    await asyncio.sleep(0.5)  # the registry record reaches the edge's state
    ws = await open_ws(edge, sid, version)
    answered = []
    for action in sorted(p.CHARGER_INITIATED[version]):
        key = (version, action, "request")
        if key not in SCHEMAS:  # 2.1 SEND messages have no request/response pair
            continue
        payload = minimal(SCHEMAS[key], SCHEMAS[key])
        reply = await rpc(ws, [2, f"m-{action}", action, payload])
        assert reply[0] == 3, (action, reply)
        assert reply[1] == f"m-{action}"
        p.validate_result(version, action, reply[2])
        answered.append(action)
    await ws.close()
    assert len(answered) >= 14


@pytest.mark.parametrize(("version", "format_code"), [("ocpp1.6", "FormationViolation"),
                                                      ("ocpp2.0.1", "FormatViolation"),
                                                      ("ocpp2.1", "FormatViolation")])
async def test_bad_frames_get_the_versions_callerror_and_the_connection_lives(edge, version, format_code):
    sid = f"BAD-{uuid.uuid4().hex[:8]}"
    await s.seed(edge.test_kafka, [s.station(sid)])
    await asyncio.sleep(0.5)
    ws = await open_ws(edge, sid, version)
    reply = await rpc(ws, "this is not json")
    assert reply[:3] == [4, "-1", format_code]
    reply = await rpc(ws, [2, "a1", "Heartbeat"])  # 3 elements: not an OCPP-J CALL
    assert reply[0] == 4 and reply[1] == "a1"
    assert reply[2] == ("FormationViolation" if version == "ocpp1.6" else "RpcFrameworkError")
    reply = await rpc(ws, [2, "x" * 37, "Heartbeat", {}])  # message id over 36 characters
    assert reply[:2] == [4, "-1"]
    reply = await rpc(ws, [2, "a2", "NoSuchAction", {}])
    assert reply[:3] == [4, "a2", "NotImplemented"]
    reply = await rpc(ws, [2, "a3", "Authorize", {}])  # required idTag/idToken missing
    assert reply[:3] == [4, "a3", "OccurenceConstraintViolation" if version == "ocpp1.6"
                         else "OccurrenceConstraintViolation"]
    bad_type = {"idTag": 12} if version == "ocpp1.6" else {"idToken": {"idToken": 12, "type": "ISO14443"}}
    reply = await rpc(ws, [2, "a4", "Authorize", bad_type])
    assert reply[:3] == [4, "a4", "TypeConstraintViolation"]
    reply = await rpc(ws, [2, "a5", "Reset", {"type": "Hard"}])  # a CSMS-initiated action sent by a charger
    assert reply[:3] == [4, "a5", "NotSupported"]
    # a CALLRESULT for no pending call is published and ignored: the connection goes on
    await ws.send(orjson.dumps([3, "nobody-asked", {}]).decode())
    reply = await rpc(ws, [2, "a6", "Heartbeat", {}])
    assert reply[0] == 3 and reply[1] == "a6"
    # a repeated message id gets the same answer as the first time
    again = await rpc(ws, [2, "a6", "Heartbeat", {}])
    assert again == reply
    await ws.close()
    events = await s.read_events(edge.test_kafka, "ocpp.messages", sid, until=19)
    assert len(events) == 19  # every frame in both directions, the unanswered CALLRESULT included
    assert [e["sequence"] for e in events] == list(range(19))
    unanswered = [e for e in events if e["message_id"] == "nobody-asked"]
    assert unanswered and unanswered[0]["message_type"] == "CALLRESULT"


async def test_v2_requests_before_an_accepted_boot_get_security_error(edge):
    sid = f"NEW-{uuid.uuid4().hex[:8]}"  # unknown: boots as Pending under the default policy
    ws = await open_ws(edge, sid, "ocpp2.0.1")
    reply = await rpc(ws, [2, "h1", "Heartbeat", {}])
    assert reply[:3] == [4, "h1", "SecurityError"]
    boot = await rpc(ws, [2, "b1", "BootNotification",
                          {"chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"}])
    assert boot[2]["status"] == "Pending"
    assert (await rpc(ws, [2, "h2", "Heartbeat", {}]))[2] == "SecurityError"
    await ws.close()


@pytest.mark.parametrize(("path", "protocols", "status"), [
    ("/ocpp/" + "A" * 49, ["ocpp1.6"], 400),
    ("/ocpp/bad%20id", ["ocpp1.6"], 400),
    ("/ocpp/", ["ocpp1.6"], 400),
    ("/elsewhere/CP1", ["ocpp1.6"], 404),
    ("/ocpp/CP1", ["ocpp1.5"], 400),
    ("/ocpp/CP1", None, 400),
])
async def test_bad_upgrades_are_refused_with_a_status(edge, path, protocols, status):
    with pytest.raises(InvalidStatus) as info:
        await websockets.connect(f"ws://127.0.0.1:{edge.settings.port}{path}", subprotocols=protocols)
    assert info.value.response.status_code == status


async def test_subprotocol_follows_the_chargers_preference(edge):
    ws = await websockets.connect(f"ws://127.0.0.1:{edge.settings.port}/ocpp/PREF1",
                                  subprotocols=["ocpp0.9", "ocpp2.0.1", "ocpp1.6"])
    assert ws.subprotocol == "ocpp2.0.1"
    await ws.close()


async def test_oversize_frame_closes_with_1009(edge):
    ws = await open_ws(edge, "BIG1", "ocpp1.6", max_size=None)
    await ws.send(orjson.dumps([2, "big", "DataTransfer", {"vendorId": "v", "data": "x" * 20_000}]).decode())
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 10)
    assert ws.close_code == 1009 or ws.protocol.close_rcvd.code == 1009


async def test_a_fragmented_message_is_joined_and_answered(edge):
    ws = await open_ws(edge, "FRAG1", "ocpp1.6")
    text = orjson.dumps([2, "frag", "DataTransfer", {"vendorId": "v", "data": "y" * 5_000}]).decode()
    await ws.send([text[i: i + 1000] for i in range(0, len(text), 1000)])  # one text frame + continuation frames
    reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
    assert reply[:2] == [3, "frag"]
    await ws.close()


async def test_a_fragmented_message_over_the_limit_closes_with_1009(edge):
    ws = await open_ws(edge, "FRAG2", "ocpp1.6", max_size=None)
    text = orjson.dumps([2, "big", "DataTransfer", {"vendorId": "v", "data": "x" * 20_000}]).decode()
    await ws.send([text[i: i + 4000] for i in range(0, len(text), 4000)])  # every frame under the 8192 limit
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 10)
    assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1009


async def test_pipelined_calls_are_answered_in_order(edge):
    """A charger that does not wait for answers is read more slowly (backpressure), never dropped or reordered."""
    ws = await open_ws(edge, f"PIPE-{uuid.uuid4().hex[:6]}", "ocpp1.6")
    for n in range(40):
        await ws.send(orjson.dumps([2, f"m{n}", "Heartbeat", {}]).decode())
    replies = [orjson.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(40)]
    assert [r[1] for r in replies] == [f"m{n}" for n in range(40)]
    assert all(r[0] == 3 for r in replies)
    await ws.close()


async def test_pings_from_the_charger_are_answered(edge):
    ws = await open_ws(edge, "PING1", "ocpp1.6")
    latency = await asyncio.wait_for(await ws.ping(b"are you there"), 10)
    assert latency >= 0
    assert (await rpc(ws, [2, "h", "Heartbeat", {}]))[0] == 3
    await ws.close()


async def test_a_second_connection_replaces_the_first(edge):
    sid = f"DUP-{uuid.uuid4().hex[:6]}"
    first = await open_ws(edge, sid)
    second = await open_ws(edge, sid)
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(first.recv(), 10)
    assert first.close_reason.startswith("replaced")
    assert (await rpc(second, [2, "h", "Heartbeat", {}]))[0] == 3
    assert len([sess for sess in edge.sessions if sess == sid]) == 1
    await second.close()

"""Writes are commands: the real stations processor answers RegisterStation; a charger command waits for the
edge's outcome on ocpp.command-outcomes; a command nobody answers in time is a 202 whose status is kept."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import orjson
import pytest

from csms.kafka import make_consumer
from processors.stations import StationsSettings, spec
from schemas import AvroCodec
from tests.integration import domain_support as s
from tests.integration.read_api import _data as d

pytestmark = pytest.mark.integration


async def test_station_commands_through_the_stations_processor(api, admin_token):
    settings = StationsSettings(database_url=api.urls["stations"], kafka=api.settings.kafka, http_port=0)
    sid = d.uid("CS")
    body = {"station_id": sid, "name": "Depot", "allowed_ocpp_versions": ["ocpp1.6"], "status": "PENDING",
            "evses": [{"evse_id": 1, "connectors": [{"connector_id": 1, "connector_type": "CCS2"}]}]}
    async with s.running(spec(settings), settings), api.client(admin_token) as c:
        created = await c.post("/api/v1/stations", json=body)
        assert created.status_code == 201, created.text
        assert created.json()["result"]["status"] == "PENDING"
        duplicate = await c.post("/api/v1/stations", json=body)
        assert duplicate.status_code == 409
        assert duplicate.json()["error"]["details"]["command_id"]
        assert (await c.post("/api/v1/stations/NOPE-1/approve", json={})).status_code == 404
        invalid = await c.patch(f"/api/v1/stations/{sid}", json={"latitude": 91})
        assert invalid.status_code == 422
        approved = await c.post(f"/api/v1/stations/{sid}/approve", json={"reason": "checked"})
        assert approved.status_code == 200
        station = (await c.get(f"/api/v1/stations/{sid}")).json()
        assert station["status"] == "ACCEPTED"
        status = (await c.get(f"/api/v1/commands/{approved.json()['command_id']}")).json()
        assert status["status"] == "OK"


async def _answer_charger_command(api, station_id: str, result: dict) -> dict:
    """Play the edge: read the OcppCommand for `station_id`, publish its outcome; return the command."""
    codec = AvroCodec()
    consumer = make_consumer(api.settings.kafka, api.settings.kafka.topic_prefix + "ocpp.commands", group_id=None)
    await consumer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for record in (r for rs in batch.values() for r in rs):
                command = codec.decode(record.value).value
                if command["station_id"] != station_id:
                    continue
                async with api.feed() as feed:
                    await feed.send("ocpp.command-outcomes", command["command_id"], "csms.ocpp.OcppCommandOutcome", {
                        "command_id": command["command_id"], "station_id": station_id, "action": command["action"],
                        "status": "RESULT", "result_json": orjson.dumps(result).decode(), "error_code": None,
                        "error_description": None, "edge_id": "edge-test", "completed_at": datetime.now(UTC)})
                return command
    finally:
        await consumer.stop()


async def test_charger_commands_are_validated_then_wait_for_the_edge(api, admin_token):
    sid = d.uid("CS")
    await d.station(api, sid, version="ocpp1.6")
    async with api.client(admin_token) as c:
        bad = await c.post(f"/api/v1/stations/{sid}/commands/RemoteStopTransaction", json={"transactionId": "x"})
        assert bad.status_code == 422
        assert "transactionId" in bad.json()["error"]["message"]
        wrong_version = await c.post(f"/api/v1/stations/{sid}/commands/RequestStopTransaction",
                                     json={"transactionId": "x"})
        assert wrong_version.status_code == 422
        assert (await c.post("/api/v1/stations/NOPE-2/commands/Reset", json={"type": "Soft"})).status_code == 404
        edge = asyncio.create_task(_answer_charger_command(api, sid, {"status": "Accepted"}))
        stop = await c.post(f"/api/v1/stations/{sid}/commands/RemoteStopTransaction", json={"transactionId": 7})
        command = await edge
    assert stop.status_code == 200, stop.text
    assert stop.json()["result"] == {"status": "Accepted"}
    assert orjson.loads(command["payload_json"]) == {"transactionId": 7}


async def test_a_slow_command_is_202_and_its_outcome_is_kept(api, admin_token):
    async with api.client(admin_token) as c:
        slow = await c.post("/api/v1/tariffs", json={"id": d.uid("TAR"), "currency": "EUR", "elements": []})
        assert slow.status_code == 202
        command_id = slow.json()["command_id"]
        assert slow.headers["location"] == f"/api/v1/commands/{command_id}"
        assert (await c.get(f"/api/v1/commands/{command_id}")).json()["status"] == "PENDING"
        async with api.feed() as feed:  # billing answers late
            await feed.send("commands.outcomes", command_id, "csms.common.CommandOutcome", {
                "command_id": command_id, "command_type": "CreateTariff", "domain": "billing", "status": "CREATED",
                "aggregate_id": None, "result_json": '{"version": 1}', "error_message": None,
                "completed_at": datetime.now(UTC)})

        async def done() -> dict | None:
            status = (await c.get(f"/api/v1/commands/{command_id}")).json()
            return status if status["status"] != "PENDING" else None

        status = await s.wait_for(done, what="late outcome recorded")
    assert status["status"] == "CREATED"
    assert status["result"] == {"version": 1}
    assert uuid.UUID(command_id)


async def test_a_station_password_never_travels_on_the_commands_topic(api, admin_token):
    """The API publishes the argon2id hash; the registry keeps it; the edge verifies the password against it."""
    from argon2 import PasswordHasher

    settings = StationsSettings(database_url=api.urls["stations"], kafka=api.settings.kafka, http_port=0)
    sid = d.uid("PW")
    password = "correct-horse-battery-42"
    body = {"station_id": sid, "name": "Secured", "security_profile": 1, "password": password}
    async with s.running(spec(settings), settings), api.client(admin_token) as c:
        assert (await c.post("/api/v1/stations", json={**body, "password": "short"})).status_code == 422
        created = await c.post("/api/v1/stations", json=body)
        assert created.status_code in (201, 202), created.text  # 202 while the processor joins its group
        rows = await s.wait_for(lambda: s.fetch(api.urls["stations"],
                                                "select password_hash from stations where id = $1", sid))
    published = await s.read_topic(api.settings.kafka, "stations.commands")
    raw = [orjson.dumps(v, default=str) for _, _, v in published]
    assert raw and not any(password.encode() in r for r in raw)
    assert PasswordHasher().verify(rows[0]["password_hash"], password)

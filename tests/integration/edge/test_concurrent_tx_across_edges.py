"""ConcurrentTx across edges, end to end on the real broker and database: a card charging on a charger of edge 1
is answered ConcurrentTx when it starts on a charger of edge 2, through the authorization processor's
`auth.token-sessions`; once the first transaction stops, the card starts again."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import pytest
import websockets
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call as call16

from processors.authorization import AuthorizationSettings, spec
from tests.integration import domain_support as d
from tests.integration.edge import _support as s

pytestmark = pytest.mark.integration
AUTH_TOPICS = ["auth.commands", "auth.events", "auth.authorizations", "stations.registry"]


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def until(check, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def charger(edge, station_id: str) -> tuple[Cp16, asyncio.Task]:
    ws = await websockets.connect(f"ws://127.0.0.1:{edge.settings.port}/ocpp/{station_id}",
                                  subprotocols=["ocpp1.6"])
    cp = Cp16(station_id, ws)
    return cp, asyncio.create_task(cp.start())


async def test_a_card_charging_on_one_edge_gets_concurrent_tx_on_another(kafka_settings, fresh_database, tmp_path):
    await s.create_topics(kafka_settings)
    await d.create_topics(kafka_settings, AUTH_TOPICS)
    tag = f"CARD{uuid.uuid4().hex[:6]}"
    key = f"ISO14443:{tag}"
    one, two = f"CS1-{uuid.uuid4().hex[:5]}", f"CS2-{uuid.uuid4().hex[:5]}"
    await s.seed(kafka_settings, [s.station(one), s.station(two)], [s.token(tag)])
    settings = AuthorizationSettings(database_url=fresh_database, kafka=kafka_settings, http_port=0)
    async with (d.running(spec(settings), settings),
                s.running_edge(kafka_settings, tmp_path / "1") as edge1,
                s.running_edge(kafka_settings, tmp_path / "2") as edge2):
        (cp1, r1), (cp2, r2) = await charger(edge1, one), await charger(edge2, two)
        try:
            first = await cp1.call(call16.StartTransaction(connector_id=1, id_tag=tag, meter_start=0, timestamp=now()))
            assert first.id_tag_info["status"] == "Accepted"
            await until(lambda: key in edge2.state.token_sessions, "edge 2 to see the card's open transaction")
            second = await cp2.call(call16.StartTransaction(connector_id=1, id_tag=tag, meter_start=0,
                                                            timestamp=now()))
            assert second.id_tag_info["status"] == "ConcurrentTx"

            await cp1.call(call16.StopTransaction(meter_stop=900, timestamp=now(),
                                                  transaction_id=first.transaction_id))
            await until(lambda: key not in edge2.state.token_sessions, "the card's transaction to close on edge 2")
            third = await cp2.call(call16.StartTransaction(connector_id=1, id_tag=tag, meter_start=1,
                                                           timestamp=now()))
            assert third.id_tag_info["status"] == "Accepted"
            await until(lambda: key in edge1.state.token_sessions, "edge 1 to see the transaction on edge 2")
            assert [x["station_id"] for x in edge1.state.token_sessions[key]["sessions"]] == [two]
        finally:
            for task in (r1, r2):
                task.cancel()
            await cp1._connection.close()
            await cp2._connection.close()

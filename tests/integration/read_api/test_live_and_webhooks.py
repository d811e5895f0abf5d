"""The live feed (SSE) and signed, retried webhook deliveries."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import UTC, datetime

import orjson
import pytest

from tests.integration.read_api import _data as d

pytestmark = pytest.mark.integration


def _status_event(station_id: str, status: str) -> dict:
    return {"station_id": station_id, "evse_id": 1, "connector_id": 1, "status": status, "previous_status": None,
            "error_code": None, "charger_timestamp": None, "received_at": datetime.now(UTC)}


async def _next_event(lines, kind: str) -> dict:
    event = None
    async for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == kind:
            return orjson.loads(line[6:])
    raise AssertionError("stream ended")


async def test_live_feed_streams_connector_status(api, admin_token):
    sid = d.uid("CS")
    async with api.client(admin_token) as c, c.stream("GET", "/api/v1/live", params={"station_id": sid}) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        assert await lines.__anext__() == ": connected"
        async with api.feed() as feed:
            await feed.send("stations.events", sid, "csms.stations.ConnectorStatusChanged",
                            _status_event(sid, "Faulted"))
        event = await asyncio.wait_for(_next_event(lines, "connector_status"), 15)
    assert event["data"]["station_id"] == sid
    assert event["data"]["status"] == "Faulted"


async def _receiver(answers: list[int], received: list[tuple[dict, bytes]]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
        body = await reader.readexactly(int(headers["Content-Length"]))
        received.append(({k.lower(): v for k, v in headers.items()}, body))
        code = answers.pop(0) if answers else 200
        writer.write(f"HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def test_webhooks_are_signed_retried_and_logged(api, admin_token):
    received: list[tuple[dict, bytes]] = []
    server = await _receiver([500], received)
    port = server.sockets[0].getsockname()[1]
    sid = d.uid("CS")
    try:
        async with api.client(admin_token) as c:
            sub = (await c.post("/api/v1/webhooks", json={"url": f"http://127.0.0.1:{port}/hook",
                                                          "event_types": ["connector_status"]})).json()
            async with api.feed() as feed:
                await feed.send("stations.events", sid, "csms.stations.ConnectorStatusChanged",
                                _status_event(sid, "Charging"))

            async def delivered() -> list | None:
                log = (await c.get(f"/api/v1/webhooks/{sub['subscription_id']}/deliveries")).json()["items"]
                mine = [x for x in log if x["status"] == "DELIVERED"]
                return mine or None

            from tests.integration.domain_support import wait_for
            log = await wait_for(delivered, what="webhook delivered after a retry")
    finally:
        server.close()
    assert log[0]["attempts"] == 2
    assert log[0]["last_status_code"] == 200
    ours = [(h, b) for h, b in received if orjson.loads(b)["data"]["station_id"] == sid]
    assert len(ours) == 2
    headers, body = ours[-1]
    t, v1 = (part.split("=", 1)[1] for part in headers["csms-signature"].split(","))
    expected = hmac.new(sub["secret"].encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(v1, expected)

"""Dead sockets are evicted by ping/pong; a charger reconnecting over a half-open socket takes over at once;
upgrades beyond the admission rate get 503 with Retry-After."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.integration.edge import _support as edge
from tests.integration.edge_ops import _support as s

pytestmark = pytest.mark.integration


async def test_zombie_eviction_takeover_and_admission_pacing(kafka_settings, tmp_path):
    await edge.create_topics(kafka_settings)
    station, zombie_only = f"Z-{uuid.uuid4().hex[:6]}", f"ZO-{uuid.uuid4().hex[:6]}"
    async with edge.running_edge(kafka_settings, tmp_path, ping_interval_s=0.5, ping_timeout_s=0.5,
                                 admission_rate_per_s=5, admission_burst=5, command_grace_s=1.0,
                                 edge_heartbeat_s=0.5) as e:
        url = f"ws://127.0.0.1:{e.settings.port}/ocpp"
        # a socket that stops answering (pings included) is evicted after ping_interval + ping_timeout
        dead = await websockets.connect(f"{url}/{zombie_only}", subprotocols=["ocpp1.6"])
        dead.transport.pause_reading()
        started = time.monotonic()
        for _ in range(100):
            if zombie_only not in e.sessions:
                break
            await asyncio.sleep(0.1)
        assert zombie_only not in e.sessions
        assert time.monotonic() - started < 4  # ping 0.5 s + pong timeout 0.5 s + close timeout 2 s

        # the same station reconnects while its old socket is half-open: the new one takes over at once
        old = await websockets.connect(f"{url}/{station}", subprotocols=["ocpp1.6"])
        old.transport.pause_reading()
        async with s.ScriptedCharger(url, station) as fresh:
            assert e.sessions[station].conn.remote_address == "{}:{}".format(*fresh.ws.local_address[:2])
            reset = s.command(station, "Reset", {"type": "Hard"})
            await s.publish_commands(kafka_settings, reset)
            found = await s.outcomes(kafka_settings, {reset["command_id"]}, timeout=10)
            assert found[reset["command_id"]][0]["status"] == "RESULT"
            assert [a for _, a, _ in fresh.received] == ["Reset"]
        old.transport.abort()
        dead.transport.abort()

        # admission pacing: a burst beyond the bucket gets 503 + Retry-After instead of piling up
        await asyncio.sleep(1.2)  # refill the bucket (5/s)
        statuses, retry_after = [], []
        for n in range(12):
            try:
                ws = await websockets.connect(f"{url}/BURST-{n}", subprotocols=["ocpp1.6"])
                statuses.append(101)
                await ws.close()
            except InvalidStatus as refused:
                statuses.append(refused.response.status_code)
                retry_after.append(int(refused.response.headers["Retry-After"]))
        assert statuses.count(101) >= 5 and statuses.count(503) >= 5
        assert all(1 <= r <= 10 for r in retry_after)

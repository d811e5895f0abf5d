"""Two real edge processes (`python -m ocpp_edge`) on one broker: a command reaches the edge that holds the
charger, a charger that moves between edges neither loses a pending command nor gets one twice, and a station
that no edge holds gets exactly one NOT_CONNECTED."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.integration.edge import _support as edge
from tests.integration.edge_ops import _support as s

pytestmark = pytest.mark.integration
FAST = {"CSMS_EDGE_COMMAND_GRACE_S": "1", "CSMS_EDGE_COMMAND_TIMEOUT_S": "3", "CSMS_EDGE_EDGE_HEARTBEAT_S": "0.5",
        "CSMS_EDGE_UNKNOWN_STATIONS": "accept"}


async def test_commands_follow_a_charger_across_two_edges(kafka_settings, tmp_path):
    await edge.create_topics(kafka_settings)
    # one edge on each event loop the edge supports (CSMS_EDGE_EVENT_LOOP)
    a, b = (s.EdgeProcess(kafka_settings, tmp_path / name, f"{name}-{uuid.uuid4().hex[:4]}", s.free_port(),
                          s.free_port(), **FAST, CSMS_EDGE_EVENT_LOOP=loop)
            for name, loop in (("edge-a", "uvloop"), ("edge-b", "asyncio")))
    station, nobody = f"MOVER-{uuid.uuid4().hex[:6]}", f"NOBODY-{uuid.uuid4().hex[:6]}"
    received: list[str] = []

    def answer(action: str, payload: dict) -> tuple:
        received.append(payload.get("requestedMessage", action))
        return ("result", {"status": "Accepted"})

    try:
        a.start()
        b.start()
        await asyncio.to_thread(a.wait_ready)
        await asyncio.to_thread(b.wait_ready)
        async with s.ScriptedCharger(a.url, station, answer=answer):
            first = s.command(station, "TriggerMessage", {"requestedMessage": "Heartbeat"})
            lonely = s.command(nobody, "Reset", {"type": "Soft"})
            await s.publish_commands(kafka_settings, first, lonely)
            done = await s.outcomes(kafka_settings, {first["command_id"], lonely["command_id"]}, timeout=10)
        assert done[first["command_id"]][0]["edge_id"] == a.edge_id

        # between edges: a command with an expiry waits past the grace for the charger to reappear anywhere
        between = s.command(station, "TriggerMessage", {"requestedMessage": "StatusNotification"}, expires_in=30)
        await s.publish_commands(kafka_settings, between)
        await asyncio.sleep(1.5)
        async with s.ScriptedCharger(b.url, station, answer=answer):
            moved = await s.outcomes(kafka_settings, {between["command_id"]}, timeout=10)
            assert moved[between["command_id"]][0]["edge_id"] == b.edge_id
            # back on A while the socket on B is still open (a half-open zombie from the charger's view)
            async with s.ScriptedCharger(a.url, station, answer=answer):
                await asyncio.sleep(0.5)
                last = s.command(station, "TriggerMessage", {"requestedMessage": "MeterValues"})
                await s.publish_commands(kafka_settings, last)
                back = await s.outcomes(kafka_settings, {last["command_id"]}, timeout=10)
        assert back[last["command_id"]][0]["edge_id"] == a.edge_id

        everything = {c["command_id"] for c in (first, lonely, between, last)}
        final = await s.outcomes(kafka_settings, everything, timeout=10, settle=2.0)
        assert {k: [o["status"] for o in v] for k, v in final.items()} == {
            first["command_id"]: ["RESULT"], lonely["command_id"]: ["NOT_CONNECTED"],
            between["command_id"]: ["RESULT"], last["command_id"]: ["RESULT"]}
        assert received == ["Heartbeat", "StatusNotification", "MeterValues"]  # each exactly once, in order
    finally:
        await asyncio.gather(asyncio.to_thread(a.stop), asyncio.to_thread(b.stop))

"""Alerts on the real broker and database: rules by command, time-driven detection, lifecycle events."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import orjson
import pytest

from processors.monitoring import MonitoringSettings
from schemas import AvroCodec
from tests.integration.monitoring import _support as m
from tests.integration.runtime._support import read_all

pytestmark = pytest.mark.integration


async def test_silent_station_alert_opens_by_the_clock_is_acknowledged_and_resolves(kafka_settings, fresh_database):
    await m.create_topics(kafka_settings)
    st = f"CP-{uuid.uuid4().hex[:6]}"
    create = m.command("CreateAlertRule", {"rule_id": "silence", "type": "NO_HEARTBEAT", "severity": "CRITICAL",
                                           "params": {"seconds": 2}, "scope": {"kind": "STATION", "id": st},
                                           "cooldown_s": 0})
    dead_rule = m.command("CreateAlertRule", {"rule_id": "dl", "type": "DEAD_LETTER", "params": {"hold_s": 600}})
    bad = m.command("CreateAlertRule", {"type": "NO_HEARTBEAT", "params": {}})
    await m.produce(kafka_settings, [create, dead_rule, bad])
    settings = MonitoringSettings(database_url=fresh_database, kafka=kafka_settings, http_port=0)
    q = lambda sql: m.scalar(fresh_database, sql)  # noqa: E731
    async with m.running(settings):
        await m.wait_for(lambda: _eq(q("select count(*) from alert_rules"), 2), what="rules created")
        await m.produce(kafka_settings, m.frames(st, "Heartbeat", {}, {"currentTime": "x"}))
        last_frame = time.monotonic()
        await m.wait_for(lambda: _eq(q(f"select last_message_at is not null from station_state where station_id = "
                                       f"'{st}'"), True), what="heartbeat applied")
        await m.wait_for(lambda: _eq(q("select count(*) from alerts where rule_id = 'silence'"), 1), timeout=15,
                         what="no-heartbeat alert")
        detected_after = time.monotonic() - last_frame
        alert_id = await q("select alert_id from alerts where rule_id = 'silence'")
        await m.produce(kafka_settings, [m.command("AcknowledgeAlert", {}, aggregate_id=alert_id)])
        await m.wait_for(lambda: _eq(q(f"select state from alerts where alert_id = '{alert_id}'"), "ACKNOWLEDGED"),
                         what="acknowledged")
        await m.produce(kafka_settings, m.frames(st, "Heartbeat", {}, {"currentTime": "x"}))
        await m.wait_for(lambda: _eq(q(f"select state from alerts where alert_id = '{alert_id}'"), "RESOLVED"),
                         what="resolved by itself")
        await m.produce(kafka_settings, [("runtime.dead-letters", "csms.runtime.DeadLetter", {
            "event_id": str(uuid.uuid4()), "consumer_group": "csms.billing", "topic": "ocpp.messages",
            "partition": 0, "offset": 7, "reason": "HANDLER_ERROR", "error": "boom", "failed_at": datetime.now(UTC)})])
        await m.wait_for(lambda: _eq(q("select subject from alerts where rule_id = 'dl'"), "group:csms.billing"),
                         what="dead-letter alert")
        transitions = await read_all(kafka_settings, "monitoring.alerts", 4, timeout=10)
        outcomes = await read_all(kafka_settings, "commands.outcomes", 4, timeout=10)

    assert 2 <= detected_after <= 2 + 5, "opens within its threshold + 5 s, never before the threshold"
    codec = AvroCodec()
    events = [codec.decode(r.value).value for r in transitions]
    of_alert = [(e["transition"], e["state"], e["actor"]) for e in events if e["alert_id"] == alert_id]
    assert of_alert[:3] == [("OPENED", "OPEN", None), ("ACKNOWLEDGED", "ACKNOWLEDGED", "op-1"),
                            ("RESOLVED", "RESOLVED", None)]
    assert {e["severity"] for e in events if e["alert_id"] == alert_id} == {"CRITICAL"}
    results = {(o := codec.decode(r.value).value)["command_id"]: o for r in outcomes}
    assert results[create[2]["command_id"]]["status"] == "CREATED"
    assert orjson.loads(results[create[2]["command_id"]]["result_json"])["params"] == {"seconds": 2}
    assert results[bad[2]["command_id"]]["status"] == "INVALID"
    assert "params.seconds" in results[bad[2]["command_id"]]["error_message"]


async def _eq(value_coro, expected) -> bool:  # type: ignore[no-untyped-def]
    return bool(await value_coro == expected)

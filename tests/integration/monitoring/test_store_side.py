"""The evaluator, webhooks, partitions, reports and risk on a real (migrated) database, without Kafka."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import orjson
import pytest
import sqlalchemy as sa

from processors.monitoring import _alerts, partitions, queries
from processors.monitoring.domain import parse_rule
from processors.monitoring.evaluator import evaluate
from processors.monitoring.webhooks import SIGNATURE_HEADER, WebhookPolicy, WebhookSender, rule_secret
from processors.runtime.uow import BatchUnitOfWork
from schemas import AvroCodec, load_topics
from tests.integration.monitoring import _support as m

pytestmark = pytest.mark.integration
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


class Hook:
    """A tiny HTTP server on 127.0.0.1 answering the given statuses in turn, recording what it receives."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses, self.received = statuses, []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if ": " in line)
        body = await reader.readexactly(int(headers["Content-Length"]))
        self.received.append((headers, body))
        status = self.statuses[min(len(self.received) - 1, len(self.statuses) - 1)]
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()


async def _evaluate(engine, now: datetime) -> list[dict]:
    async with engine.begin() as conn:
        uow = BatchUnitOfWork(conn, AvroCodec(), load_topics())
        await evaluate(conn, uow, now)
        return uow.take()


async def test_offline_alert_cooldown_webhook_signature_and_retries(fresh_database):
    engine = await m.migrated_engine(fresh_database)
    hook = Hook([500, 200])
    server = await asyncio.start_server(hook.handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    try:
        async with engine.begin() as conn:
            rule = parse_rule("off", {"type": "STATION_OFFLINE", "params": {"minutes": 5}, "cooldown_s": 600,
                                      "webhook_url": url, "scope": {"kind": "SITE", "id": "site-1"}})
            await _alerts.insert_rule(conn, rule, NOW)
            await conn.execute(sa.text(
                "insert into station_state (station_id, site_id, connected, disconnected_at) values "
                "('A', 'site-1', false, :long_ago), ('B', 'site-1', false, :recent), "
                "('C', 'site-2', false, :long_ago)"),
                {"long_ago": NOW - timedelta(minutes=6), "recent": NOW - timedelta(minutes=4)})
        emitted = await _evaluate(engine, NOW)
        assert [r["topic"] for r in emitted] == ["monitoring.alerts"]
        assert [a["subject"] for a in await _queries(engine, "alerts")] == ["A"]  # B too recent, C other site

        async with httpx.AsyncClient() as client:
            sender = WebhookSender(engine, client, WebhookPolicy(b"k" * 32, backoff_s=0.05))
            assert await sender.send_due() == 1
            await asyncio.sleep(0.1)
            assert await sender.send_due() == 1
        log = await _queries(engine, "webhook_deliveries")
        assert [(d["status"], d["attempts"], d["last_status"]) for d in log] == [("DELIVERED", 2, 200)]
        headers, body = hook.received[-1]
        secret = rule_secret(b"k" * 32, "off", 1)
        assert headers[SIGNATURE_HEADER] == "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert orjson.loads(body)["transition"] == "OPENED" and len(hook.received) == 2

        async with engine.begin() as conn:
            await conn.execute(sa.text("update station_state set connected = true where station_id = 'A'"))
        await _evaluate(engine, NOW + timedelta(seconds=1))
        async with engine.begin() as conn:
            await conn.execute(sa.text("update station_state set connected = false where station_id = 'A'"))
        await _evaluate(engine, NOW + timedelta(seconds=2))  # within the cool-down: no new alert
        assert [a["state"] for a in await _queries(engine, "alerts")] == ["RESOLVED"]
        await _evaluate(engine, NOW + timedelta(seconds=700))
        assert sorted(a["state"] for a in await _queries(engine, "alerts")) == ["OPEN", "OPEN", "RESOLVED"]  # A, B

        async with engine.begin() as conn:
            await conn.execute(sa.text("update alert_rules set enabled = false"))
        await _evaluate(engine, NOW + timedelta(seconds=701))
        assert {a["state"] for a in await _queries(engine, "alerts")} == {"RESOLVED"}
    finally:
        server.close()
        await engine.dispose()


async def _queries(engine, name: str) -> list[dict]:
    async with engine.connect() as conn:
        return await getattr(queries, name)(conn)


async def test_partitions_are_created_ahead_and_dropped_after_retention(fresh_database):
    engine = await m.migrated_engine(fresh_database)
    try:
        async with engine.begin() as conn:
            changes = await partitions.maintain(conn, date(2026, 3, 10), ahead_days=2, raw_retention_days=30,
                                                rollup_1m_retention_days=60)
            assert "meter_samples_p20260312" in changes["created"] and "meter_rollup_1h_p202603" in changes["created"]
            await partitions.ensure_partitions(conn, "meter_samples", [date(2026, 1, 1)])  # late data
            changes = await partitions.maintain(conn, date(2026, 3, 10), ahead_days=2, raw_retention_days=30,
                                                rollup_1m_retention_days=60)
            assert changes == {"created": [], "dropped": ["meter_samples_p20260101"]}
            names = [n for n, _ in await partitions.list_partitions(conn, "meter_samples")]
            assert names == [f"meter_samples_p202603{d:02d}" for d in range(9, 13)]
    finally:
        await engine.dispose()


async def test_report_groups_by_site_and_week_and_exports_and_ranks_stations_at_risk(fresh_database):
    engine = await m.migrated_engine(fresh_database)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(
                "insert into station_state (station_id, site_id, operator_id, connected, connected_since) values "
                "('A', 's1', 'op', false, null), ('B', 's1', 'op', true, :since), ('C', 's2', 'op', false, null)"),
                {"since": datetime(2026, 3, 4, 12, tzinfo=UTC)})
            await conn.execute(sa.text(
                "insert into connector_state (station_id, evse_id, connector_id, status, status_since, updated_at) "
                "values ('A', 1, 1, 'Available', now(), now()), ('B', 1, 1, 'Available', now(), now())"))
            for station, day, energy, sessions, failed, uptime, errors, boots in [
                ("A", date(2026, 3, 2), 10_000, 2, 0, 86_400, 0, 0),
                ("A", date(2026, 3, 3), 5_000, 1, 1, 43_200, 4, 3),
                ("C", date(2026, 3, 3), 1_000, 1, 0, 0, 1, 0),
            ]:
                await conn.execute(sa.text(
                    "insert into daily_station_stats (station_id, day, energy_wh, sessions, failed_sessions, "
                    "uptime_s, errors, boots) values (:s, :d, :e, :n, :f, :u, :err, :b)"),
                    {"s": station, "d": day, "e": energy, "n": sessions, "f": failed, "u": uptime, "err": errors,
                     "b": boots})
            await conn.execute(sa.text(
                "insert into daily_connector_stats values ('A', 1, 1, '2026-03-02', 43200, 21600)"))
            await conn.execute(sa.text(
                "insert into revenue_sessions values ('s-1', 'A', 'EUR', 12.5, true, '2026-03-03T10:00Z', null), "
                "('s-2', 'A', 'EUR', 99, false, '2026-03-03T11:00Z', null)"))
        async with engine.connect() as conn:
            rows = await queries.report(conn, date(2026, 3, 2), date(2026, 3, 4), group_by="site", period="week",
                                        now=NOW)
            at_risk = await queries.stations_at_risk(conn, today=date(2026, 3, 5))
        s1 = next(r for r in rows if r["group"] == "s1")
        assert (s1["period"], s1["stations"], s1["connectors"], s1["energy_kwh"], s1["sessions"]) == (
            "2026-03-02", 2, 2, 15.0, 3)
        assert s1["uptime_s"] == 129_600  # B's open connection starts after the period
        assert s1["availability_pct"] == pytest.approx(100 * 129_600 / (2 * 2 * 86_400))
        assert s1["utilisation_pct"] == pytest.approx(100 * 43_200 / (2 * 2 * 86_400))
        assert s1["revenue"] == {"EUR": str(Decimal("12.5000"))}
        csv_text = queries.report_csv(rows)
        assert csv_text.splitlines()[0].endswith(",revenue_EUR") and len(csv_text.splitlines()) == 3
        assert orjson.loads(queries.report_json(rows))[0]["group"] == "s1"
        assert [r["station_id"] for r in at_risk] == ["A", "C"]
    finally:
        await engine.dispose()

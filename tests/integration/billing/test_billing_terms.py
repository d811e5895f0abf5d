"""Billing terms on the real broker and database: the membership level and budget caps that auth.tokens carries,
connector-type tariffs, and a session stopped through ocpp.commands when it reaches its cap."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from processors.billing import housekeeping, queries
from processors.billing.charging import BillingDeps
from processors.billing.session_store import SessionCache
from processors.billing.settings import BillingSettings
from processors.runtime.migrate import async_url
from processors.runtime.service import make_engine
from schemas import AvroCodec, load_topics
from tests.integration import domain_support as ds
from tests.integration.billing import _support as s

pytestmark = pytest.mark.integration
TARIFF = {"currency": "EUR", "vat_percent": "19", "membership_discounts": {"GOLD": "10"}, "elements": [
    {"price_components": [{"type": "FLAT", "price": "0.50"}]},
    {"price_components": [{"type": "ENERGY", "price": "0.40", "step_size": 1}]}]}
def _until(url: str, sql: str, *args: Any) -> Any:
    """`_support.until` with room for a box that other test suites and benchmarks load."""
    return s.until(url, sql, *args, timeout=60)


# the sessions matching `where`, once there are `n` of them
_ALL_OF = ("select * from (select *, count(*) over () as n from billing_sessions where {where}) x "
           "where n = {n} order by session_id")


def token(id_token: str, version: int, at: datetime, **fields: Any) -> dict[str, Any]:
    """A TokenState as the authorization processor publishes it."""
    return {"id_token": id_token, "token_type": "ISO14443", "status": "ACTIVE", "version": version,
            "updated_at": at, **fields}


async def _tariff(p: s.Producer, url: str, tariff_id: str, body: dict, scope: str = "OPERATOR_DEFAULT",
                  key: str = "") -> None:
    await p.command("CreateTariff", {"id": tariff_id, **body}, tariff_id)
    await p.command("AssignTariff", {"scope": scope, "key": key, "tariff_id": tariff_id}, tariff_id)
    await _until(url, "select 1 from billing_tariff_assignments where tariff_id = $1", tariff_id)


def _mv(at: datetime, wh: int) -> dict:
    return {"timestamp": at.isoformat(),
            "sampledValue": [{"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}


async def _start_v16(p: s.Producer, station: str, tag: str, tx: int, t0: datetime, meter_wh: int) -> None:
    start = {"connectorId": 1, "idTag": tag, "meterStart": 1000, "timestamp": t0.isoformat()}
    await p.exchange(station, "ocpp1.6", "StartTransaction", start,
                     {"transactionId": tx, "idTagInfo": {"status": "Accepted"}}, t0)
    meter = {"connectorId": 1, "transactionId": tx, "meterValue": [_mv(t0 + timedelta(minutes=10), meter_wh)]}
    await p.exchange(station, "ocpp1.6", "MeterValues", meter, {}, t0 + timedelta(minutes=10))


async def _running_cost(url: str, session_id: str, now: datetime) -> dict[str, Any]:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as conn:
            cost = await queries.running_cost(conn, session_id, now)
    finally:
        await engine.dispose()
    assert cost is not None
    return cost


def _cost(row: asyncpg.Record) -> dict[str, Any]:
    cost = row["cost"]
    return cost if isinstance(cost, dict) else orjson.loads(cost)


async def test_the_membership_level_known_at_the_start_prices_the_session(kafka_settings, fresh_database):
    url, station = fresh_database, f"CS-{uuid.uuid4().hex[:6]}"
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)
    async with s.billing(kafka_settings, url) as p:
        await p.send("auth.tokens", "ISO14443:GOLD1", "csms.authorization.TokenState",
                     token("GOLD1", 1, t0, driver_id="d-gold", membership_level="GOLD"))
        await p.send("auth.tokens", "ISO14443:PLAIN", "csms.authorization.TokenState",
                     token("PLAIN", 1, t0, driver_id="d-plain", membership_level="BASIC"))
        await _tariff(p, url, "TM", TARIFF)
        await _until(url, "select 1 from billing_token_terms where id_token = 'PLAIN'")
        await _start_v16(p, station, "GOLD1", 1, t0, 6000)
        await _start_v16(p, station + "b", "PLAIN", 2, t0, 6000)
        await _until(url, "select 1 from billing_session_terms where session_id = $1", f"{station}:1")
        # the driver is moved down to BASIC while the session runs: the session keeps its GOLD discount
        await p.send("auth.tokens", "ISO14443:GOLD1", "csms.authorization.TokenState",
                     token("GOLD1", 2, t0, driver_id="d-gold", membership_level="BASIC"))
        await _until(url, "select 1 from billing_token_terms where id_token = 'GOLD1' and membership_level = 'BASIC'")
        running = await _running_cost(url, f"{station}:1", t0 + timedelta(minutes=10))
        for st, tx in ((station, 1), (station + "b", 2)):
            stop = {"transactionId": tx, "meterStop": 11000, "timestamp": (t0 + timedelta(minutes=30)).isoformat(),
                    "reason": "EVDisconnected"}
            await p.exchange(st, "ocpp1.6", "StopTransaction", stop, {}, t0 + timedelta(minutes=30))
        gold, plain = await _until(url, _ALL_OF.format(n=2, where="total_incl_vat is not null"))
        # a later session of the same driver gets the level known at its own start
        await _start_v16(p, station, "GOLD1", 3, t0 + timedelta(minutes=31), 2000)
        (later,) = await _until(url, "select * from billing_session_terms where session_id = $1", f"{station}:3")

    assert gold["session_id"] == f"{station}:1" and plain["session_id"] == f"{station}b:2"
    cost = _cost(gold)
    # 0.50 flat + 10 kWh x 0.40 = 4.50; 10 % GOLD = 0.45; 4.05 + 19 % VAT (0.7695 -> 0.77) = 4.82
    assert (cost["subtotal"], cost["discount_percent"], cost["discount"]) == ("4.50", "10", "0.45")
    assert (cost["total_excl_vat"], cost["vat"], cost["total_incl_vat"]) == ("4.05", "0.77", "4.82")
    assert gold["total_incl_vat"] == Decimal("4.82")
    assert (_cost(plain)["discount"], plain["total_incl_vat"]) == ("0.00", Decimal("5.36"))
    assert later["membership_level"] == "BASIC"
    # the running cost (read API, CostUpdated) has the pinned discount too: 0.50 + 5 kWh x 0.40 = 2.50 - 10 %
    assert (running["discount_percent"], running["total_excl_vat"]) == ("10", "2.25")


async def test_a_connector_type_tariff_is_selected_below_station_and_site(kafka_settings, fresh_database):
    url, station = fresh_database, f"CS-{uuid.uuid4().hex[:6]}"
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)
    dc = {**TARIFF, "membership_discounts": {}, "elements": [
        {"price_components": [{"type": "ENERGY", "price": "0.69"}]}]}
    async with s.billing(kafka_settings, url) as p:
        await _tariff(p, url, "DEFAULT", TARIFF)
        await _tariff(p, url, "DC", dc, scope="CONNECTOR_TYPE", key="CCS2")
        # the stations processor's registry entry carries the registered connectors
        await p.send("stations.registry", station, "csms.stations.StationRegistryEntry", {
            "event_id": str(uuid.uuid4()), "station_id": station, "status": "ACCEPTED", "heartbeat_interval_s": 300,
            "security_profile": 0, "password_hash": None, "operator_id": None, "location_id": None,
            "allowed_ocpp_versions": [], "version": 1, "updated_at": t0,
            "connectors": [{"evse_id": 1, "connector_id": 1, "connector_type": "CCS2"},
                           {"evse_id": 2, "connector_id": 1, "connector_type": "TYPE_2"}]})
        await _until(url, "select 1 from billing_station_connector_types")
        for evse, tx in ((1, "tx-dc"), (2, "tx-ac")):
            started = {"eventType": "Started", "timestamp": t0.isoformat(), "triggerReason": "Authorized",
                       "seqNo": 0, "transactionInfo": {"transactionId": tx}, "evse": {"id": evse},
                       "idToken": {"idToken": "ANY", "type": "ISO14443"}}
            await p.exchange(station, "ocpp2.0.1", "TransactionEvent", started,
                             {"idTokenInfo": {"status": "Accepted"}}, t0)
        rows = await _until(url, _ALL_OF.format(n=2, where="tariff_id is not null"))
        terms = await s.fetch(url, "select session_id, connector_type from billing_session_terms")

    assert [(r["session_id"], r["tariff_id"]) for r in rows] == [(f"{station}:tx-ac", "DEFAULT"),
                                                                 (f"{station}:tx-dc", "DC")]
    assert {(r["session_id"], r["connector_type"]) for r in terms} == {(f"{station}:tx-ac", "TYPE_2"),
                                                                       (f"{station}:tx-dc", "CCS2")}


async def test_a_session_reaching_a_cap_from_auth_tokens_is_stopped_through_ocpp_commands(
        kafka_settings, fresh_database):
    url, run = fresh_database, uuid.uuid4().hex[:6]
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)
    st_over, st_energy, st_money = f"CS-O{run}", f"CS-E{run}", f"CS-M{run}"
    async with s.billing(kafka_settings, url) as p:
        await _tariff(p, url, "TC", TARIFF)
        send = [("OVER", {"cap_energy_wh_per_session": 5000}),
                ("ENERGY", {"cap_energy_wh_per_session": 5000}),
                ("MONEY", {"cap_money_per_session": "1.00", "cap_currency": "EUR"})]
        for tag, caps in send:
            await p.send("auth.tokens", f"ISO14443:{tag}", "csms.authorization.TokenState", token(tag, 1, t0, **caps))
        # billing's own SetTokenBudget overrides the auth cap of OVER, field by field
        await p.command("SetTokenBudget", {"id_token": "OVER", "max_energy_wh": "100000"})
        await _until(url, "select 1 from billing_token_budgets where id_token = 'OVER'")
        await _until(url, "select 1 from billing_token_terms having count(*) = 3")
        await _start_v16(p, st_over, "OVER", 7, t0, 7000)
        await _until(url, "select 1 from billing_sessions where station_id = $1 and energy_wh = 6000", st_over)
        # OVER is stored with 6,000 Wh before the others start: the round that stops them also looked at OVER
        await _start_v16(p, st_energy, "ENERGY", 8, t0, 7000)

        def event(kind: str, seq: int, minute: int, wh: int) -> dict:
            at = t0 + timedelta(minutes=minute)
            return {"eventType": kind, "timestamp": at.isoformat(), "triggerReason": "MeterValuePeriodic",
                    "seqNo": seq, "transactionInfo": {"transactionId": "tx-m", "chargingState": "Charging"},
                    "idToken": {"idToken": "MONEY", "type": "ISO14443"}, "evse": {"id": 1, "connectorId": 1},
                    "meterValue": [{"timestamp": at.isoformat(), "sampledValue": [
                        {"value": str(wh), "measurand": "Energy.Active.Import.Register"}]}]}

        for kind, seq, minute, wh in [("Started", 0, 0, 0), ("Updated", 1, 10, 2000)]:
            await p.exchange(st_money, "ocpp2.0.1", "TransactionEvent", event(kind, seq, minute, wh),
                             {"idTokenInfo": {"status": "Accepted"}}, t0 + timedelta(minutes=minute))
        stopped = await _until(url, _ALL_OF.format(n=2, where="stop_requested_at is not null"))
        (over,) = await s.fetch(url, "select * from billing_sessions where station_id = $1", st_over)
        await ds.drained(url)
        commands = await ds.read_topic(kafka_settings, "ocpp.commands")

    assert [r["session_id"] for r in stopped] == [f"{st_energy}:8", f"{st_money}:tx-m"]
    assert over["stop_requested_at"] is None and over["energy_wh"] == Decimal(6000)
    stops = sorted((key, v["action"], orjson.loads(v["payload_json"])) for key, _, v in commands
                   if v["action"] in ("RemoteStopTransaction", "RequestStopTransaction"))
    # 1.6: 6,000 Wh >= 5,000 Wh; 2.x: 0.50 + 2 kWh x 0.40 = 1.30 + 19 % = 1.55 EUR >= 1.00 EUR
    assert stops == [(st_energy, "RemoteStopTransaction", {"transactionId": 8}),
                     (st_money, "RequestStopTransaction", {"transactionId": "tx-m"})]


async def test_housekeeping_pages_through_more_capped_sessions_than_one_round_reads(
        kafka_settings, fresh_database, monkeypatch):
    url, run = fresh_database, uuid.uuid4().hex[:6]
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)
    async with s.billing(kafka_settings, url, housekeeping_interval_s=3600) as p:  # rounds run by hand below
        for tag, cap in (("A", 50000), ("B", 50000), ("C", 5000)):
            await p.send("auth.tokens", f"ISO14443:{tag}{run}", "csms.authorization.TokenState",
                         token(f"{tag}{run}", 1, t0, cap_energy_wh_per_session=cap))
        await _until(url, "select 1 from billing_token_terms having count(*) = 3")
        for n, tag in enumerate("ABC"):
            await _start_v16(p, f"CS-{tag}{run}", f"{tag}{run}", n + 1, t0, 7000)
        await _until(url, "select 1 from billing_sessions where energy_wh = 6000 having count(*) = 3")
    settings = BillingSettings(database_url=url, kafka=kafka_settings)
    deps = BillingDeps(settings, SessionCache(0))
    engine = make_engine(settings)
    topics = load_topics().with_prefix(kafka_settings.topic_prefix)
    # not a mock: the page size, made small so that five real sessions span three pages of the real store
    monkeypatch.setattr(housekeeping, "BATCH", 2)
    try:
        # A and B (under their caps) fill the first page; C, over its cap, is on the second
        first = await housekeeping.housekeeping_round(deps, engine, AvroCodec(), topics)
        second = await housekeeping.housekeeping_round(deps, engine, AvroCodec(), topics)
    finally:
        await engine.dispose()
    stopped = await s.fetch(url, "select station_id from billing_sessions where stop_requested_at is not null")

    assert (first.stops, second.stops) == (0, 1)
    assert [r["station_id"] for r in stopped] == [f"CS-C{run}"]


async def test_a_monthly_cap_counts_the_tokens_other_sessions_of_the_month(kafka_settings, fresh_database):
    url, run = fresh_database, uuid.uuid4().hex[:6]
    now = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)  # housekeeping's clock, given below
    async with s.billing(kafka_settings, url, housekeeping_interval_s=3600) as p:  # rounds run by hand below
        await _tariff(p, url, "TMONTH", TARIFF)
        for tag in ("OVER", "UNDER", "PAIR"):
            await p.send("auth.tokens", f"ISO14443:{tag}{run}", "csms.authorization.TokenState",
                         token(f"{tag}{run}", 1, now, cap_energy_wh_per_month=20000))
        await _until(url, "select 1 from billing_token_terms having count(*) = 3")
        # OVER: 15 kWh earlier this month, 6 kWh now: 21 kWh >= 20 kWh
        # UNDER: 50 kWh last month (not counted), 15 kWh earlier this month, 4 kWh now: 19 kWh
        sessions = [("UNDER", 1, now - timedelta(days=20), 51000, True),
                    ("OVER", 2, now - timedelta(days=2), 16000, True),
                    ("OVER", 3, now - timedelta(minutes=30), 7000, False),
                    ("UNDER", 4, now - timedelta(days=2), 16000, True),
                    ("UNDER", 5, now - timedelta(minutes=30), 5000, False),
                    # PAIR: two sessions at once, 12 kWh each: each counts the other's
                    ("PAIR", 6, now - timedelta(minutes=30), 13000, False),
                    ("PAIR", 7, now - timedelta(minutes=30), 13000, False)]
        for tag, tx, at, meter_wh, ended in sessions:
            station = f"CS-{tx}{run}"
            await _start_v16(p, station, f"{tag}{run}", tx, at, meter_wh)
            if ended:
                stop = {"transactionId": tx, "meterStop": meter_wh, "reason": "Local",
                        "timestamp": (at + timedelta(minutes=20)).isoformat()}
                await p.exchange(station, "ocpp1.6", "StopTransaction", stop, {}, at + timedelta(minutes=20))
        await _until(url, _ALL_OF.format(n=3, where="ended and total_incl_vat is not null"))
        await _until(url, _ALL_OF.format(n=4, where="not ended and energy_wh > 0"))
    settings = BillingSettings(database_url=url, kafka=kafka_settings)
    engine = make_engine(settings)
    try:
        done = await housekeeping.housekeeping_round(BillingDeps(settings, SessionCache(0)), engine, AvroCodec(),
                                                     load_topics().with_prefix(kafka_settings.topic_prefix), now)
    finally:
        await engine.dispose()
    stopped = await s.fetch(url, "select session_id from billing_sessions where stop_requested_at is not null")

    assert done.stops == 3
    assert sorted(r["session_id"] for r in stopped) == [f"CS-3{run}:3", f"CS-6{run}:6", f"CS-7{run}:7"]

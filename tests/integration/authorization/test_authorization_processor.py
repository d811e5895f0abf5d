"""Authorization processor on the real broker and database: driver and token commands keep auth.tokens in step
with the store; decisions of the edge are recorded against token and driver; local lists follow permissions."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from processors.authorization import AuthorizationSettings, queries, spec
from processors.authorization.bootstrap import MIGRATIONS
from processors.authorization.store import metadata
from processors.runtime.migrate import async_url, upgrade
from tests.integration import domain_support as s

pytestmark = pytest.mark.integration
TOPICS = ["ocpp.messages", "auth.commands", "stations.registry", "auth.tokens", "auth.events", "auth.authorizations",
          "auth.token-sessions"]
CARD = "ISO14443:04A2B3C4"


async def test_migrations_match_the_store_tables(real_infra, fresh_database):
    await asyncio.to_thread(upgrade, fresh_database, MIGRATIONS)
    engine = create_async_engine(async_url(fresh_database))
    async with engine.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c, opts={
            "include_name": lambda name, kind, parent: not (name or "").startswith("runtime_")
            and (parent or {}).get("table_name", "")[:8] != "runtime_"}), metadata))
    await engine.dispose()
    assert diff == []


async def send_token_story(feed: s.Feed) -> dict[str, str]:
    """One ordered sequence of commands (one key, one partition): drivers, levels, a card's whole life."""
    t = s.T0
    steps = [
        ("level", "DefineMembershipLevel", {"level": "GOLD", "name": "Gold", "benefits": {"discount_pct": 10}}),
        ("ann", "CreateDriver", {"driver_id": "ann", "name": "Ann", "email": "ann@example.com",
                                 "membership_level": "GOLD"}),
        ("dup", "CreateDriver", {"name": "Other Ann", "email": "ANN@example.com"}),
        ("bob", "CreateDriver", {"driver_id": "bob", "name": "Bob", "email": "bob@example.com",
                                 "allowed_location_ids": ["LOC-A"],
                                 "allowed_hours": [{"days": [1, 2, 3, 4, 5], "start": "07:00", "end": "19:00"}]}),
        ("issue", "IssueToken", {"id_token": "04A2B3C4", "driver_id": "ann", "caps": {
            "energy_wh_per_session": 50000, "money_per_month": "120.00", "currency": "EUR"}}),
        ("again", "IssueToken", {"token_key": CARD}),
        ("block", "BlockToken", {"token_key": CARD, "reason": "fraud check"}),
        ("unblock", "UnblockToken", {"token_key": CARD}),
        ("transfer", "TransferToken", {"token_key": CARD, "to_driver_id": "bob"}),
        ("suspend", "UpdateDriver", {"driver_id": "bob", "status": "SUSPENDED"}),
        ("lost", "ReportTokenLost", {"token_key": CARD}),
        ("unlost", "UnblockToken", {"token_key": CARD}),
        ("nolevel", "SetMembershipLevel", {"driver_id": "ann", "level": "PLATINUM"}),
        ("key", "IssueToken", {"id_token": "1234", "token_type": "KeyCode", "driver_id": "ann"}),
        ("delete", "DeleteToken", {"token_key": "KeyCode:1234"}),
        ("badtype", "IssueToken", {"id_token": "x", "token_type": "Barcode"}),
    ]
    ids = {}
    for n, (name, kind, payload) in enumerate(steps):
        ids[name] = await feed.command("auth.commands", kind, payload, key="story", at=t + timedelta(seconds=n))
    await feed.flush()
    return ids


async def test_commands_keep_auth_tokens_in_step(kafka_settings, fresh_database):
    await s.create_topics(kafka_settings, TOPICS)
    settings = AuthorizationSettings(database_url=fresh_database, kafka=kafka_settings, http_port=0)
    async with s.Feed(kafka_settings) as feed, s.running(spec(settings), settings):
        ids = await send_token_story(feed)
        outcomes = await s.outcomes(kafka_settings, ids.values())
        await s.drained(fresh_database)
        tokens = await s.read_topic(kafka_settings, "auth.tokens")

    assert {name: outcomes[cid]["status"] for name, cid in ids.items()} == {
        "level": "CREATED", "ann": "CREATED", "dup": "CONFLICT", "bob": "CREATED", "issue": "CREATED",
        "again": "CONFLICT", "block": "OK", "unblock": "OK", "transfer": "OK", "suspend": "OK", "lost": "OK",
        "unlost": "CONFLICT", "nolevel": "NOT_FOUND", "key": "CREATED", "delete": "OK", "badtype": "INVALID"}
    card = [v for k, _, v in tokens if k == CARD]
    assert [(v["version"], v["status"], v["driver_id"]) for v in card] == [
        (1, "ACTIVE", "ann"), (2, "BLOCKED", "ann"), (3, "ACTIVE", "ann"), (4, "ACTIVE", "bob"),
        (5, "BLOCKED", "bob"),  # bob suspended: his ACTIVE card is published Blocked
        (6, "LOST", "bob")]
    assert card[3]["allowed_location_ids"] == ["LOC-A"] and card[3]["allowed_station_ids"] is None
    assert [(v["version"], v["status"]) for k, _, v in tokens if k == "KeyCode:1234"] == [(1, "ACTIVE"),
                                                                                         (2, "INVALID")]
    engine = create_async_engine(async_url(fresh_database))
    try:
        async with engine.connect() as conn:
            history = await queries.token_changes(conn, CARD)
            assert [(h.action, h.status, h.published_status) for h in history] == [
                ("ISSUED", "ACTIVE", "ACTIVE"), ("BLOCK", "BLOCKED", "BLOCKED"), ("UNBLOCK", "ACTIVE", "ACTIVE"),
                ("TRANSFERRED", "ACTIVE", "ACTIVE"), ("DRIVER_UPDATED", "ACTIVE", "BLOCKED"),
                ("REPORT_LOST", "LOST", "LOST")]
            token = await queries.get_token(conn, CARD)
            assert token is not None and str(token.cap_money_per_month) == "120.00" and token.cap_currency == "EUR"
            ann = await queries.find_driver_by_email(conn, "Ann@Example.com")
            assert ann is not None and ann.id == "ann" and ann.membership_level == "GOLD"
            bob = await queries.get_driver(conn, "bob")
            assert bob is not None and bob.allowed_hours == [{"days": [1, 2, 3, 4, 5], "start": "07:00:00",
                                                              "end": "19:00:00"}]
            assert [t.token_key for t in (await queries.list_tokens(conn)).items] == [CARD]
            assert [lv.code for lv in await queries.membership_level_list(conn)] == ["BASIC", "GOLD"]
    finally:
        await engine.dispose()


def registry_entry(station: str, location: str | None, version: int) -> dict:
    return {"station_id": station, "status": "ACCEPTED", "heartbeat_interval_s": 300, "security_profile": 0,
            "password_hash": None, "operator_id": None, "location_id": location, "allowed_ocpp_versions": [],
            "version": version, "updated_at": s.T0}


async def send_decisions(feed: s.Feed) -> None:
    t = s.T0 + timedelta(minutes=5)
    await feed.charger_call("CS-1", "Authorize", {"idTag": "04A2B3C4"},
                            {"idTagInfo": {"status": "Accepted"}}, at=t)
    await feed.charger_call("CS-1", "StartTransaction", {"connectorId": 1, "idTag": "04A2B3C4", "meterStart": 0,
                                                         "timestamp": "2026-03-01T08:05:01Z"},
                            {"idTagInfo": {"status": "Accepted"}, "transactionId": 77}, at=t + timedelta(seconds=1))
    await feed.charger_call("CS-1", "Heartbeat", {}, {"currentTime": "2026-03-01T08:05:02Z"},
                            at=t + timedelta(seconds=2))
    await feed.charger_call("CS-2", "Authorize", {"idToken": {"idToken": "CAFE", "type": "eMAID"}},
                            {"idTokenInfo": {"status": "Unknown"}}, at=t + timedelta(seconds=3), version="ocpp2.0.1")
    await feed.charger_call("CS-2", "TransactionEvent", {
        "eventType": "Started", "timestamp": "2026-03-01T08:05:04Z", "triggerReason": "Authorized", "seqNo": 0,
        "transactionInfo": {"transactionId": "tx-9"}, "idToken": {"idToken": "04A2B3C4", "type": "ISO14443"}},
        {"idTokenInfo": {"status": "Blocked"}}, at=t + timedelta(seconds=4), version="ocpp2.0.1")


async def test_decisions_are_recorded_and_local_lists_follow_permissions(kafka_settings, fresh_database):
    await s.create_topics(kafka_settings, TOPICS)
    settings = AuthorizationSettings(database_url=fresh_database, kafka=kafka_settings, http_port=0)
    async with s.Feed(kafka_settings) as feed, s.running(spec(settings), settings):
        for station, location in (("CS-1", "LOC-A"), ("CS-2", "LOC-B")):
            await feed.send("stations.registry", station, "csms.stations.StationRegistryEntry",
                            registry_entry(station, location, 1))
        t = s.T0
        ids = [
            await feed.command("auth.commands", "CreateDriver", {"driver_id": "ann", "name": "Ann",
                                                                 "email": "ann@example.com"}, key="k", at=t),
            await feed.command("auth.commands", "IssueToken", {"id_token": "04A2B3C4", "driver_id": "ann"},
                               key="k", at=t),
        ]
        await feed.flush()
        await s.outcomes(kafka_settings, ids)
        await send_decisions(feed)
        await feed.flush()

        async def four() -> list:
            found = await s.fetch(fresh_database, "select * from authorizations order by decided_at")
            return found if len(found) == 4 else []
        rows = await s.wait_for(four, what="four decisions")
        engine = create_async_engine(async_url(fresh_database))
        try:
            async with engine.connect() as conn:
                before = await queries.local_list(conn, "CS-2")
            restrict = await feed.command("auth.commands", "UpdateDriver", {
                "driver_id": "ann", "allowed_location_ids": ["LOC-A"]}, key="k", at=t + timedelta(minutes=10))
            await feed.flush()
            assert (await s.outcomes(kafka_settings, [restrict]))[restrict]["status"] == "OK"
            async with engine.connect() as conn:
                after_b = await queries.local_list(conn, "CS-2")
                after_a = await queries.local_list(conn, "CS-1")
                by_driver = await queries.authorization_history(conn, driver_id="ann", limit=1)
                older = await queries.authorization_history(conn, driver_id="ann", before=by_driver.next_cursor)
        finally:
            await engine.dispose()

    assert [(r["station_id"], r["token_key"], r["driver_id"], r["action"], r["outcome"], r["transaction_id"])
            for r in rows] == [
        ("CS-1", "ISO14443:04A2B3C4", "ann", "Authorize", "Accepted", None),
        ("CS-1", "ISO14443:04A2B3C4", "ann", "StartTransaction", "Accepted", "77"),
        ("CS-2", "eMAID:CAFE", None, "Authorize", "Unknown", None),
        ("CS-2", "ISO14443:04A2B3C4", "ann", "TransactionEvent", "Blocked", "tx-9")]
    assert before is not None and [(e.token_key, e.status) for e in before.entries] == [(CARD, "ACTIVE")]
    assert after_b is not None and after_b.entries == [] and after_b.list_version == before.list_version + 1
    assert after_a is not None and [e.token_key for e in after_a.entries] == [CARD]
    assert [r.action for r in by_driver.items] == ["TransactionEvent"]
    assert [r.action for r in older.items] == ["StartTransaction", "Authorize"]

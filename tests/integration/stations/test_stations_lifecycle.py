"""Stations processor on the real broker and database: commands, boots of unknown stations, stations.registry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from processors.runtime.migrate import async_url, upgrade
from processors.stations import StationsSettings, spec
from processors.stations.bootstrap import MIGRATIONS
from processors.stations.passwords import verify_password
from processors.stations.store import metadata
from tests.integration import domain_support as s

pytestmark = pytest.mark.integration
TOPICS = ["ocpp.messages", "ocpp.connections", "stations.commands", "stations.registry", "stations.events"]
PASSWORD = "correct-horse-battery-staple"


async def test_migrations_match_the_store_tables(real_infra, fresh_database):
    await __import__("asyncio").to_thread(upgrade, fresh_database, MIGRATIONS)
    engine = create_async_engine(async_url(fresh_database))
    async with engine.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c, opts={
            "include_name": lambda name, kind, parent: not (name or "").startswith("runtime_")
            and (parent or {}).get("table_name", "") [:8] != "runtime_"}), metadata))
    await engine.dispose()
    assert diff == []


async def test_commands_and_unknown_boots_keep_the_registry_topic_in_step(kafka_settings, fresh_database):
    await s.create_topics(kafka_settings, TOPICS)
    settings = StationsSettings(database_url=fresh_database, kafka=kafka_settings, http_port=0)
    async with s.Feed(kafka_settings) as feed, s.running(spec(settings), settings):
        at = s.T0
        loc = await feed.command("stations.commands", "DefineLocation", {
            "location_id": "LOC-1", "name": "Depot", "latitude": "52.520008123", "longitude": 13.404954})
        await feed.flush()  # commands of different keys may apply in any order: the location first
        await s.wait_for(lambda: s.fetch(fresh_database, "select 1 from locations"), what="location")
        ids = {
            "loc": loc,
            "reg": await feed.command("stations.commands", "RegisterStation", {
                "name": "Depot 1", "location_id": "LOC-1", "security_profile": 1, "password": PASSWORD,
                "allowed_ocpp_versions": ["ocpp1.6"],
                "evses": [{"evse_id": 1, "connectors": [{"connector_id": 1, "connector_type": "CCS2",
                                                        "max_power_w": 150000}]}]},
                aggregate_id="CS-1", at=at),
            "dup": await feed.command("stations.commands", "RegisterStation", {}, aggregate_id="CS-1"),
            "bad": await feed.command("stations.commands", "RegisterStation", {"latitude": 91},
                                      aggregate_id="CS-X"),
            "nopw": await feed.command("stations.commands", "RegisterStation", {"security_profile": 2},
                                       aggregate_id="CS-Y"),
            "upd": await feed.command("stations.commands", "UpdateStation", {"heartbeat_interval_s": 120},
                                      aggregate_id="CS-1", at=at + timedelta(seconds=1)),
            # only connectors change: the registry entry carries them (billing's connector-type tariffs)
            "plug": await feed.command("stations.commands", "UpdateStation", {"evses": [{"evse_id": 1, "connectors": [
                {"connector_id": 2, "connector_type": "TYPE_2", "max_power_w": 22000}]}]},
                aggregate_id="CS-1", at=at + timedelta(seconds=1, milliseconds=500)),
            "gone": await feed.command("stations.commands", "ApproveStation", {}, aggregate_id="NOPE"),
        }
        await feed.flush()
        # an unknown 1.6 station boots; the edge (pending mode) answered Pending
        await feed.charger_call("CS-NEW", "BootNotification", {
            "chargePointVendor": "Acme", "chargePointModel": "Fast", "chargePointSerialNumber": "SN-7",
            "firmwareVersion": "1.2.3"}, {"status": "Pending", "interval": 300, "currentTime": "2026-03-01T08:00:00Z"},
            at=at)
        await feed.flush()
        await s.wait_for(lambda: s.fetch(fresh_database, "select 1 from stations where id = 'CS-NEW'"),
                         what="pending station recorded")
        ids["approve"] = await feed.command("stations.commands", "ApproveStation", {"reason": "checked"},
                                            aggregate_id="CS-NEW", at=at + timedelta(seconds=2))
        ids["decom"] = await feed.command("stations.commands", "DecommissionStation", {},
                                          aggregate_id="CS-1", at=at + timedelta(seconds=3))
        await feed.flush()
        outcomes = await s.outcomes(kafka_settings, ids.values())
        registry = await s.read_topic(kafka_settings, "stations.registry", 6)

    status = {name: outcomes[cid]["status"] for name, cid in ids.items()}
    assert status == {"loc": "CREATED", "reg": "CREATED", "dup": "CONFLICT", "bad": "INVALID", "nopw": "INVALID",
                      "upd": "OK", "plug": "OK", "gone": "NOT_FOUND", "approve": "OK", "decom": "OK"}
    by_station: dict[str, list[dict]] = {}
    for key, schema, value in registry:
        assert schema == "csms.stations.StationRegistryEntry"
        by_station.setdefault(key, []).append(value)
    assert [(v["status"], v["version"], v["heartbeat_interval_s"]) for v in by_station["CS-1"]] == [
        ("ACCEPTED", 1, 300), ("ACCEPTED", 2, 120), ("ACCEPTED", 3, 120), ("DECOMMISSIONED", 4, 120)]
    assert [[(c["evse_id"], c["connector_id"], c["connector_type"]) for c in v["connectors"]]
            for v in by_station["CS-1"]] == [[(1, 1, "CCS2")]] * 2 + [[(1, 1, "CCS2"), (1, 2, "TYPE_2")]] * 2
    assert [(v["status"], v["version"]) for v in by_station["CS-NEW"]] == [("PENDING", 1), ("ACCEPTED", 2)]
    entry = by_station["CS-1"][0]
    assert entry["location_id"] == "LOC-1" and entry["security_profile"] == 1
    assert entry["allowed_ocpp_versions"] == ["ocpp1.6"]
    assert PASSWORD not in repr(registry) and verify_password(entry["password_hash"], PASSWORD)

    [new] = await s.fetch(fresh_database, "select * from stations where id = 'CS-NEW'")
    assert (new["vendor"], new["model"], new["serial_number"], new["firmware_version"], new["registered_via"]) == (
        "Acme", "Fast", "SN-7", "1.2.3", "BOOT")
    [loc] = await s.fetch(fresh_database, "select latitude, longitude from locations")
    assert (str(loc["latitude"]), str(loc["longitude"])) == ("52.52000812", "13.40495400")
    history = await s.fetch(fresh_database, "select station_id, previous_status, status from station_status_history "
                                            "where kind = 'REGISTRATION' order by at, station_id")
    assert [tuple(r) for r in history] == [("CS-1", None, "ACCEPTED"), ("CS-NEW", None, "PENDING"),
                                           ("CS-NEW", "PENDING", "ACCEPTED"), ("CS-1", "ACCEPTED", "DECOMMISSIONED")]

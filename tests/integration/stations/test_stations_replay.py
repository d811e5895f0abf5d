"""Replaying `ocpp.messages` from the start into an empty store rebuilds the same store (issue 5, "Both").

Store B is built by a fresh processor from the same topics. Commands and OCPP frames travel on different topics
and their interleaving is not part of any log, so both runs apply the commands first (as in production, where a
station is registered before it boots), then the frames; within ocpp.messages each station's order is the log's.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta

import pytest

from csms.kafka import apply_topics
from processors.stations import StationsSettings, spec
from schemas import load_topics
from tests.integration import domain_support as s
from tests.integration.stations.test_stations_live_state import feed_day

pytestmark = pytest.mark.integration
TOPICS = ["ocpp.messages", "ocpp.connections", "stations.commands", "stations.registry", "stations.events"]
STATUSES = ["Available", "Preparing", "Charging", "SuspendedEV", "Finishing", "Faulted"]


async def offsets_at_end(url: str, expected: int) -> bool:
    rows = await s.fetch(url, "select coalesce(sum(next_offset), 0) as n from runtime_offsets "
                              "where topic like '%ocpp.messages'")
    return rows[0]["n"] >= expected


async def test_replaying_ocpp_messages_rebuilds_the_same_store(kafka_settings, fresh_database, real_infra):
    # one partition for commands: a replay must see DefineLocation before the RegisterStation that needs it,
    # and across partitions Kafka keeps no order (docs/stations.md, "Commands and ordering")
    await apply_topics(kafka_settings, load_topics().with_prefix(kafka_settings.topic_prefix),
                       only=["stations.commands"], max_partitions=1)
    await s.create_topics(kafka_settings, [t for t in TOPICS if t != "stations.commands"])
    settings_a = StationsSettings(database_url=fresh_database, kafka=kafka_settings, http_port=0)
    rng = random.Random(5)
    async with s.Feed(kafka_settings) as feed, s.running(spec(settings_a), settings_a):
        await feed_day(feed, fresh_database, connections=False)
        for i in range(20):  # more stations, booting unknown, many status reports and heartbeats
            await feed.charger_call(f"R-{i}", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"},
                                    {"status": "Pending", "interval": 60, "currentTime": "2026-03-01T08:00:00Z"},
                                    at=s.T0 + timedelta(seconds=i))
        for n in range(300):
            station = f"R-{rng.randrange(20)}"
            at = s.T0 + timedelta(seconds=30 + n)
            if n % 3:
                await feed.charger_call(station, "StatusNotification", {
                    "connectorId": rng.randrange(3), "status": rng.choice(STATUSES), "errorCode": "NoError"}, {}, at=at)
            else:
                await feed.charger_call(station, "Heartbeat", {}, {"currentTime": "2026-03-01T08:00:00Z"}, at=at)
        await feed.flush()
        total = feed._seq
        await s.wait_for(lambda: offsets_at_end(fresh_database, total), what="store A caught up")
        await s.drained(fresh_database)
    store_a = await s.dump(fresh_database)
    assert len(store_a["connector_status_history"]) > 150 and len(store_a["stations"]) == 22

    admin_url = real_infra.database_url("postgres")
    name = "replay_" + fresh_database.rsplit("/", 1)[1]
    await s.fetch(admin_url, f'create database "{name}"')
    url_b = real_infra.database_url(name)
    try:
        settings_b = StationsSettings(database_url=url_b, kafka=kafka_settings, http_port=0)
        commands_only = dataclasses.replace(spec(settings_b), topics=("stations.commands",))
        async with s.running(commands_only, settings_b):
            await s.wait_for(lambda: s.fetch(url_b, "select 1 from stations where id = 'AC-16'"), 90, what="commands")
        async with s.running(spec(settings_b), settings_b):
            await s.wait_for(lambda: offsets_at_end(url_b, total), 90, what="store B caught up")
        store_b = await s.dump(url_b)
    finally:
        await s.fetch(admin_url, f'drop database if exists "{name}" with (force)')
    assert store_b == store_a

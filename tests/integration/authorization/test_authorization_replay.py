"""Replaying the logs from the start into an empty drivers store rebuilds the same store (issue 5, "Both").

As for stations, both runs apply the registry entries, then the commands, then the OCPP frames (their
interleaving across topics is not in any log); store B is built by a fresh processor from the same topics.
"""

from __future__ import annotations

import dataclasses

import pytest

from processors.authorization import AuthorizationSettings, spec
from tests.integration import domain_support as s
from tests.integration.authorization.test_authorization_processor import (
    TOPICS,
    registry_entry,
    send_decisions,
    send_token_story,
)

pytestmark = pytest.mark.integration


async def frames_applied(url: str, expected: int) -> bool:
    rows = await s.fetch(url, "select coalesce(sum(next_offset), 0) as n from runtime_offsets "
                              "where topic like '%ocpp.messages'")
    return rows[0]["n"] >= expected


async def sites(url: str) -> bool:
    return (await s.fetch(url, "select count(*) as n from station_sites"))[0]["n"] == 2


async def test_replaying_the_logs_rebuilds_the_same_store(kafka_settings, fresh_database, real_infra):
    await s.create_topics(kafka_settings, TOPICS)
    settings_a = AuthorizationSettings(database_url=fresh_database, kafka=kafka_settings, http_port=0)
    async with s.Feed(kafka_settings) as feed, s.running(spec(settings_a), settings_a):
        for station, location in (("CS-1", "LOC-A"), ("CS-2", "LOC-B")):
            await feed.send("stations.registry", station, "csms.stations.StationRegistryEntry",
                            registry_entry(station, location, 1))
        await feed.flush()
        await s.wait_for(lambda: sites(fresh_database), what="registry entries applied")
        ids = await send_token_story(feed)
        await s.outcomes(kafka_settings, ids.values())
        for _ in range(50):
            await send_decisions(feed)
        await feed.flush()
        total = feed._seq
        await s.wait_for(lambda: frames_applied(fresh_database, total), what="store A caught up")
    store_a = await s.dump(fresh_database)
    assert len(store_a["authorizations"]) == 200 and len(store_a["local_auth_lists"]) == 2

    admin_url = real_infra.database_url("postgres")
    name = "replay_" + fresh_database.rsplit("/", 1)[1]
    await s.fetch(admin_url, f'create database "{name}"')
    url_b = real_infra.database_url(name)
    try:
        settings_b = AuthorizationSettings(database_url=url_b, kafka=kafka_settings, http_port=0)
        async with s.running(dataclasses.replace(spec(settings_b), topics=("stations.registry",)), settings_b):
            await s.wait_for(lambda: sites(url_b), what="registry replayed")
        first = dataclasses.replace(spec(settings_b), topics=("auth.commands", "stations.registry"))
        async with s.running(first, settings_b):
            async def commands_applied() -> bool:
                rows = await s.fetch(url_b, "select count(*) as n from token_history")
                return rows[0]["n"] == len(store_a["token_history"])
            await s.wait_for(commands_applied, what="commands replayed")
        async with s.running(spec(settings_b), settings_b):
            await s.wait_for(lambda: frames_applied(url_b, total), what="store B caught up")
        store_b = await s.dump(url_b)
    finally:
        await s.fetch(admin_url, f'drop database if exists "{name}" with (force)')
    assert store_b == store_a

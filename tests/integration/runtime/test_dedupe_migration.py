"""Runtime tables v2: a store created before dedupe keys became uuids upgrades and keeps deduplicating."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from processors.runtime import migrate, store
from tests.integration.runtime import counter_app

pytestmark = pytest.mark.integration
MIGRATIONS = counter_app.HERE / "counter_migrations"


async def test_old_text_keys_are_converted_and_still_deduplicate(real_infra, fresh_database):
    await asyncio.to_thread(migrate.upgrade, fresh_database, MIGRATIONS, "0001")
    real = str(uuid.uuid4())
    others = ["test.amounts:0:17", f"dead:{uuid.uuid4()}", "dead:test.amounts:1:3", real.upper()]
    conn = await asyncpg.connect(fresh_database)
    try:
        assert await conn.fetchval("select data_type from information_schema.columns where table_name = "
                                   "'runtime_processed_events' and column_name = 'event_id'") == "text"
        await conn.executemany("insert into runtime_processed_events (event_id) values ($1)", [(real,), *[
            (o,) for o in others]])
    finally:
        await conn.close()

    await asyncio.to_thread(migrate.upgrade, fresh_database, MIGRATIONS)
    await asyncio.to_thread(migrate.upgrade, fresh_database, MIGRATIONS)  # at head: nothing to do

    engine = create_async_engine(migrate.async_url(fresh_database))
    try:
        async with engine.begin() as conn:
            fresh = await store.claim_events(conn, [real, *others, "test.amounts:0:18", "brand-new"])
    finally:
        await engine.dispose()
    assert fresh == {"test.amounts:0:18", "brand-new"}
    conn = await asyncpg.connect(fresh_database)
    try:
        assert await conn.fetchval("select data_type from information_schema.columns where table_name = "
                                   "'runtime_processed_events' and column_name = 'event_id'") == "uuid"
        assert await conn.fetchval("select count(*) from runtime_processed_events") == 7
    finally:
        await conn.close()


async def test_downgrade_returns_to_text_keys(real_infra, fresh_database):
    await asyncio.to_thread(migrate.upgrade, fresh_database, MIGRATIONS)
    await asyncio.to_thread(migrate.downgrade, fresh_database, MIGRATIONS, "0001")
    conn = await asyncpg.connect(fresh_database)
    try:
        assert await conn.fetchval("select data_type from information_schema.columns where table_name = "
                                   "'runtime_processed_events' and column_name = 'event_id'") == "text"
    finally:
        await conn.close()

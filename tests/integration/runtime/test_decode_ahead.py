"""The consume loop decodes the next batch while the current one waits on PostgreSQL: a backlog of small, slow
batches with undecodable and poison records spread through it still applies every event once, in order per key,
and dead-letters exactly the bad records."""

from __future__ import annotations

import asyncio

import pytest

from processors.runtime import Running
from schemas import AvroCodec
from tests.integration.runtime import _support as s
from tests.integration.runtime import counter_app

pytestmark = pytest.mark.integration


async def test_a_backlog_of_slow_batches_applies_once_in_order_with_its_poison_isolated(
    kafka_settings, fresh_database
):
    await s.create_topics(kafka_settings)
    items = [("a", 1 + i % 7) for i in range(400)]
    bad = {37: b"\x00\x01not avro", 95: b"\xc3\x01" + b"\x11" * 8 + b"\x02", 260: b"\x00\x01still not avro"}
    items[150] = ("poison", 3)
    ids = await s.produce_amounts(kafka_settings, items, raw=bad, partition=0)

    settings = counter_app.CounterSettings(database_url=fresh_database, kafka=kafka_settings, max_batch=20)
    stop = asyncio.Event()
    running: list[Running] = []
    codec = AvroCodec(counter_app.catalog())
    task = asyncio.create_task(counter_app.serve(
        counter_app.spec(slow_ms=30), settings, stop, on_started=running.append, topics=counter_app.topics(),
        codec=codec))
    good = [i for i, (account, _) in enumerate(items) if account == "a" and i not in bad]
    try:
        async def applied() -> bool:
            return (await s.balances(fresh_database)).get("a", (0, 0))[1] == len(good)
        await s.wait_for(applied, timeout=120, what="the whole backlog applied")
        dead = await s.read_all(kafka_settings, "runtime.dead-letters", 4, timeout=30)
        outputs = await s.read_all(kafka_settings, counter_app.OUTPUT, len(good))
    finally:
        stop.set()
        await task

    assert await s.balances(fresh_database) == {"a": (sum(items[i][1] for i in good), len(good))}
    letters = sorted((AvroCodec().decode(r.value).value for r in dead), key=lambda v: v["offset"])
    assert [(v["offset"], v["reason"]) for v in letters] == [
        (37, "UNDECODABLE"), (95, "UNKNOWN_SCHEMA"), (150, "HANDLER_ERROR"), (260, "UNDECODABLE")]
    applied_events = [codec.decode(r.value).value for r in sorted(outputs, key=lambda r: r.offset)]
    assert [v["source_event_id"] for v in applied_events] == [ids[i] for i in good]  # input order, each once
    balances = [v["balance"] for v in applied_events]
    assert balances == sorted(balances)
    assert running[0].metrics.applied._value.get() == len(good)

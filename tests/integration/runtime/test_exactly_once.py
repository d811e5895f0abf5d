"""The processor runtime on the real broker and database (DESIGN.md decision 5).

- SIGKILL a processor process mid-batch, restart it: every effect is applied exactly once.
- A poison record (undecodable, or its handler raises) lands in the dead-letter topic; the records after it apply.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from csms.settings import KafkaSettings
from processors.runtime import Running
from schemas import AvroCodec
from tests.integration.runtime import _support as s
from tests.integration.runtime import counter_app

pytestmark = pytest.mark.integration
APP = Path(counter_app.__file__)


def _spawn(kafka: KafkaSettings, url: str, slow_ms: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CSMS_COUNTER_DATABASE_URL": url,
        "CSMS_COUNTER_KAFKA__BOOTSTRAP": kafka.bootstrap,
        "CSMS_COUNTER_KAFKA__TOPIC_PREFIX": kafka.topic_prefix,
        "CSMS_COUNTER_SLOW_MS": str(slow_ms),
        "CSMS_COUNTER_MAX_BATCH": "500",
        "CSMS_COUNTER_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, str(APP)], env=env)


async def test_sigkill_mid_batch_applies_every_effect_exactly_once(kafka_settings, fresh_database):
    await s.create_topics(kafka_settings)
    accounts = [f"acct-{i}" for i in range(7)]
    items = [(accounts[i % len(accounts)], 1 + i % 5) for i in range(6000)]
    ids = await s.produce_amounts(kafka_settings, items)
    expected: Counter[str] = Counter()
    for account, amount in items:
        expected[account] += amount

    kills = 0
    proc = _spawn(kafka_settings, fresh_database, slow_ms=150)
    try:
        for _ in range(3):  # kill it three times while batches are in flight
            async def progressed(prev: int = kills) -> bool:
                applied = sum(a for _, a in (await s.balances(fresh_database)).values())
                return applied > (prev + 1) * 500 and applied < len(items)
            await s.wait_for(progressed, what="progress before the kill")
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            proc = _spawn(kafka_settings, fresh_database, slow_ms=150)

        async def done() -> bool:
            return sum(a for _, a in (await s.balances(fresh_database)).values()) >= len(items)
        await s.wait_for(done, timeout=120, what="all events applied")
        await asyncio.sleep(1.0)  # anything applied twice would show up now
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

    assert kills == 3
    assert await s.balances(fresh_database) == {a: (expected[a], items_count) for a, items_count in
                                                Counter(a for a, _ in items).items()}
    assert await s.scalar(fresh_database, "select count(*) from runtime_processed_events") == len(items)
    # every input produced its output event through the outbox (republished rows keep their event id)
    outputs = await s.read_all(kafka_settings, counter_app.OUTPUT, len(items))
    codec = AvroCodec(counter_app.catalog())
    sources = {codec.decode(r.value).value["source_event_id"] for r in outputs}
    assert sources == set(ids)
    assert await s.scalar(fresh_database, "select count(*) from runtime_outbox") == 0


async def test_poison_records_go_to_dead_letters_and_the_partition_moves_on(kafka_settings, fresh_database):
    await s.create_topics(kafka_settings)
    items = [("a", 1), ("garbage", 0), ("b", 2), ("poison", 3), ("c", 4), ("unknown-schema", 0), ("a", 10)]
    raw = {1: b"\x00\x01not avro at all", 5: b"\xc3\x01" + b"\x11" * 8 + b"\x02"}
    await s.produce_amounts(kafka_settings, items, raw=raw, partition=0)

    settings = counter_app.CounterSettings(database_url=fresh_database, kafka=kafka_settings)
    stop = asyncio.Event()
    running: list[Running] = []
    task = asyncio.create_task(counter_app.serve(
        counter_app.spec(), settings, stop, on_started=running.append,
        topics=counter_app.topics(), codec=AvroCodec(counter_app.catalog())))
    try:
        async def applied() -> bool:
            return (await s.balances(fresh_database)).get("a", (0, 0))[0] == 11
        await s.wait_for(applied, what="records after the poison applied")
        dead = await s.read_all(kafka_settings, "runtime.dead-letters", 3, timeout=30)
    finally:
        stop.set()
        await task

    assert await s.balances(fresh_database) == {"a": (11, 2), "b": (2, 1), "c": (4, 1)}
    codec = AvroCodec()
    letters = sorted((codec.decode(r.value).value for r in dead), key=lambda v: v["offset"])
    assert [(v["offset"], v["reason"]) for v in letters] == [(1, "UNDECODABLE"), (3, "HANDLER_ERROR"),
                                                             (5, "UNKNOWN_SCHEMA")]
    assert "refused on purpose" in letters[1]["error"]
    assert letters[1]["value"] is not None and letters[0]["value"] == raw[1]
    metrics = running[0].metrics
    assert metrics.dead_letters.labels(processor="counter", reason="HANDLER_ERROR")._value.get() == 1
    assert metrics.dead_letters.labels(processor="counter", reason="UNDECODABLE")._value.get() == 1


async def test_redelivered_events_change_nothing(kafka_settings, fresh_database):
    """The same event ids produced twice (a producer retry, an edge spool replay) apply once."""
    await s.create_topics(kafka_settings)
    codec = AvroCodec(counter_app.catalog())
    ids = await s.produce_amounts(kafka_settings, [("x", 5), ("y", 7)])
    replay = {i: codec.encode("csms.test.Amount", {"event_id": eid, "account": acc, "amount": amt})
              for i, (eid, (acc, amt)) in enumerate(zip(ids, [("x", 5), ("y", 7)], strict=True))}
    # same event ids again, as a re-send would carry them in the header
    from csms.kafka import make_producer
    producer = make_producer(kafka_settings)
    await producer.start()
    for i, eid in enumerate(ids):
        await producer.send_and_wait(kafka_settings.topic_prefix + counter_app.INPUT, replay[i],
                                     key=b"r", headers=codec.headers("csms.test.Amount", eid))
    await producer.stop()
    await s.produce_amounts(kafka_settings, [("x", 1)])

    settings = counter_app.CounterSettings(database_url=fresh_database, kafka=kafka_settings)
    stop = asyncio.Event()
    task = asyncio.create_task(counter_app.serve(counter_app.spec(), settings, stop, topics=counter_app.topics(),
                                                 codec=codec))
    try:
        async def settled() -> bool:
            return (await s.balances(fresh_database)).get("x", (0, 0))[1] == 2
        await s.wait_for(settled, what="x applied twice (5 then 1)")
        await asyncio.sleep(1.0)
    finally:
        stop.set()
        await task
    assert await s.balances(fresh_database) == {"x": (6, 2), "y": (7, 1)}

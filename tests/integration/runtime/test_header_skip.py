"""A spec's header filter: skipped records are never decoded, leave no dedupe record, and their offsets advance."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from csms.kafka import make_producer
from processors.runtime import Running, skip_ocpp
from schemas import AvroCodec
from tests.integration.runtime import _support as s
from tests.integration.runtime import counter_app

pytestmark = pytest.mark.integration


async def test_skipped_records_are_not_decoded_and_their_offsets_advance(kafka_settings, fresh_database):
    await s.create_topics(kafka_settings)
    codec = AvroCodec(counter_app.catalog())
    # (account, amount, ocpp_type header or None); a skipped record may even be garbage: it is never decoded
    items = [("a", 1, "CALL"), ("a", 2, "CALLRESULT"), ("b", 4, None), ("garbage", 0, "CALL"), ("b", 8, "CALL"),
             ("a", 16, "CALLRESULT")]
    producer = make_producer(kafka_settings)
    await producer.start()
    try:
        for account, amount, kind in items:
            event_id = str(uuid.uuid4())
            value = b"\x00not avro" if account == "garbage" else codec.encode(
                "csms.test.Amount", {"event_id": event_id, "account": account, "amount": amount})
            headers = codec.headers("csms.test.Amount", event_id)
            if kind is not None:
                headers.append(("ocpp_type", kind.encode()))
            await producer.send_and_wait(kafka_settings.topic_prefix + counter_app.INPUT, value,
                                         key=account.encode(), partition=0, headers=headers)
    finally:
        await producer.stop()

    settings = counter_app.CounterSettings(database_url=fresh_database, kafka=kafka_settings)
    stop = asyncio.Event()
    running: list[Running] = []
    task = asyncio.create_task(counter_app.serve(
        counter_app.spec(skip=skip_ocpp({"CALLRESULT"})), settings, stop, on_started=running.append,
        topics=counter_app.topics(), codec=codec))
    try:
        async def offsets_stored() -> bool:
            try:
                stored = await s.scalar(fresh_database, "select coalesce(max(next_offset), 0) from runtime_offsets")
            except asyncpg.UndefinedTableError:  # not migrated yet
                return False
            return bool(stored == len(items))
        await s.wait_for(offsets_stored, what="every offset stored")
    finally:
        stop.set()
        await task

    assert await s.balances(fresh_database) == {"a": (18, 2), "b": (4, 1)}
    assert await s.scalar(fresh_database, "select count(*) from runtime_processed_events") == 3
    metrics = running[0].metrics
    assert metrics.skipped._value.get() >= 3  # a record re-read after the group's first rebalance counts again
    assert metrics.dead_letters.labels(processor="counter", reason="UNDECODABLE")._value.get() == 0

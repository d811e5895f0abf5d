"""Helpers for the runtime tests: produce Amount records, read topics back, query balances."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from csms.kafka import apply_topics, make_consumer, make_producer
from csms.settings import KafkaSettings
from schemas import AvroCodec
from tests.integration.runtime import counter_app


async def create_topics(kafka: KafkaSettings) -> None:
    names = [counter_app.INPUT, counter_app.OUTPUT, "runtime.dead-letters"]
    await apply_topics(kafka, counter_app.topics().with_prefix(kafka.topic_prefix), only=names, max_partitions=3)


async def produce_amounts(kafka: KafkaSettings, items: list[tuple[str, int]], *, raw: dict[int, bytes] | None = None,
                          partition: int | None = None) -> list[str]:
    """Produce one Amount per (account, amount); `raw[i]` replaces item i with those bytes. Returns event ids."""
    codec = AvroCodec(counter_app.catalog())
    topic = kafka.topic_prefix + counter_app.INPUT
    producer = make_producer(kafka)
    await producer.start()
    ids = []
    try:
        futures = []
        for i, (account, amount) in enumerate(items):
            event_id = str(uuid.uuid4())
            ids.append(event_id)
            value = (raw or {}).get(i) or codec.encode(
                "csms.test.Amount", {"event_id": event_id, "account": account, "amount": amount})
            futures.append(await producer.send(
                topic, value, key=account.encode(), partition=partition,
                headers=codec.headers("csms.test.Amount", event_id)))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return ids


async def read_all(kafka: KafkaSettings, logical: str, expected: int, timeout: float = 60) -> list[Any]:
    """Read records of a prefixed topic from the beginning until `expected` arrived (or timeout)."""
    consumer = make_consumer(kafka, kafka.topic_prefix + logical, group_id=None)
    await consumer.start()
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


async def balances(url: str) -> dict[str, tuple[int, int]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("select account, balance, applied from balances")
    except asyncpg.UndefinedTableError:
        return {}
    finally:
        await conn.close()
    return {r["account"]: (r["balance"], r["applied"]) for r in rows}


async def scalar(url: str, sql: str) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")

"""Benchmark: events/s the processor runtime applies into PostgreSQL with a simple batched upsert handler.

    uv run python -m bench.runtime_throughput [--events 200000] [--batch 5000]

Uses the test broker and database (tests/infra.py, started if needed), produces N `csms.test.Amount` events,
then runs the counter processor (tests/integration/runtime/counter_app.py) from offset 0 and times how long it
takes until every event is applied (dedupe record, effect, outbox row and offsets in one transaction per batch).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import asyncpg

from csms.kafka import make_producer
from csms.settings import KafkaSettings
from schemas import AvroCodec
from tests import infra
from tests.integration.runtime import _support, counter_app


async def produce(kafka: KafkaSettings, n: int) -> None:
    codec = AvroCodec(counter_app.catalog())
    producer = make_producer(kafka, linger_ms=20)
    await producer.start()
    topic = kafka.topic_prefix + counter_app.INPUT
    try:
        pending = []
        for i in range(n):
            event_id = str(uuid.uuid4())
            account = f"acct-{i % 1000}"
            value = codec.encode("csms.test.Amount", {"event_id": event_id, "account": account, "amount": 1})
            pending.append(await producer.send(topic, value, key=account.encode(),
                                               headers=codec.headers("csms.test.Amount", event_id)))
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def run(started: infra.Infra, n: int, batch: int, emit: bool = True) -> None:
    kafka = KafkaSettings(bootstrap=started.bootstrap, topic_prefix=infra.unique("bench") + ".")
    name = infra.unique("bench_")
    admin = await asyncpg.connect(started.database_url("postgres"))
    await admin.execute(f'create database "{name}"')
    await admin.close()
    url = started.database_url(name)
    await _support.create_topics(kafka)
    t0 = time.perf_counter()
    await produce(kafka, n)
    print(f"produced {n} events in {time.perf_counter() - t0:.1f}s")
    settings = counter_app.CounterSettings(database_url=url, kafka=kafka, max_batch=batch, log_level="WARNING")
    stop = asyncio.Event()
    serving = counter_app.serve(counter_app.spec(emit=emit), settings, stop, topics=counter_app.topics(),
                                codec=AvroCodec(counter_app.catalog()))
    task = asyncio.create_task(serving)

    async def applied() -> int:
        return sum(count for _, count in (await _support.balances(url)).values())

    await _support.wait_for(lambda: _ge(applied, 1), timeout=60, what="first batch")
    first, t_first = await applied(), time.perf_counter()
    await _support.wait_for(lambda: _ge(applied, n), timeout=600, what="all events")
    elapsed = time.perf_counter() - t_first
    drained = elapsed
    if emit:  # the outbox relay shares the process and the database: time until every output is published too
        await _support.wait_for(lambda: _outbox_empty(url), timeout=600, what="outbox drained")
        drained = time.perf_counter() - t_first
    stop.set()
    await task
    rate = (n - first) / elapsed
    what = "with one outbox event per input" if emit else "no outbox events"
    print(f"applied {n} events ({what}); steady-state {rate:,.0f} events/s (batch {batch}, after the first {first})")
    if emit:
        print(f"applied and published: {(n - first) / drained:,.0f} events/s")


async def _outbox_empty(url: str) -> bool:
    return bool(await _support.scalar(url, "select count(*) from runtime_outbox") == 0)


async def _ge(fn, target: int) -> bool:  # type: ignore[no-untyped-def]
    return bool(await fn() >= target)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--no-emit", action="store_true", help="handler emits no outbox event")
    args = parser.parse_args()
    asyncio.run(run(infra.start(), args.events, args.batch, emit=not args.no_emit))


if __name__ == "__main__":
    main()

"""The outbox relay never sleeps through a wake-up: a commit that lands while a relay round runs (after the round
read an empty outbox) is published at once, not after the idle poll."""

from __future__ import annotations

import asyncio
import time
import uuid

from sqlalchemy.ext.asyncio import create_async_engine

from csms.kafka import make_producer
from processors.runtime import migrate, store
from processors.runtime.metrics import RuntimeMetrics
from processors.runtime.relay import OutboxRelay
from tests.integration.runtime import _support as s
from tests.integration.runtime import counter_app


class RacingRelay(OutboxRelay):
    """The real relay; three times, a processor commits an outbox row and wakes it just after a round found the
    outbox empty: the window in which a wake-up used to be cleared and lost."""

    def __init__(self, *args: object, topic: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.topic, self.injected = topic, 0

    async def publish_once(self) -> int:
        published = await super().publish_once()
        if published == 0 and self.injected < 3:
            self.injected += 1
            async with self.engine.begin() as conn:
                await store.add_outbox(conn, [{"topic": self.topic, "key": b"k", "value": b"v", "schema_name": None,
                                               "fingerprint": None, "event_id": str(uuid.uuid4())}])
            self.wakeup.set()  # what the consumer does after its commit
        return published


async def test_a_commit_during_a_relay_round_is_published_without_waiting_for_the_idle_poll(kafka_settings,
                                                                                          fresh_database):
    await s.create_topics(kafka_settings)
    await asyncio.to_thread(migrate.upgrade, fresh_database, counter_app.spec().migrations)
    engine = create_async_engine(migrate.async_url(fresh_database))
    producer = make_producer(kafka_settings)
    await producer.start()
    stop = asyncio.Event()
    relay = RacingRelay("wakeup-test", engine, producer, RuntimeMetrics("wakeup-test"), asyncio.Event(),
                        idle_poll=120.0, topic=kafka_settings.topic_prefix + counter_app.OUTPUT)
    running = asyncio.create_task(relay.run(stop))
    try:
        deadline = time.monotonic() + 60  # half the idle poll: a lost wake-up cannot pass
        while relay.injected < 3 or await _pending(engine):
            assert time.monotonic() < deadline, f"{relay.injected} injected, rows still waiting: a lost wake-up"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running
        await producer.stop()
        await engine.dispose()


async def _pending(engine) -> int:
    async with engine.connect() as conn:
        return await store.count_outbox(conn)

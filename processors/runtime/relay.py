"""The outbox relay: publishes outbox rows in id order with an idempotent producer.

One transaction per batch: `delete ... returning` takes the oldest rows, they are published, and the deletion
commits only after Kafka acknowledged every record (one statement instead of a read and a delete; a failed publish
or a crash rolls the deletion back). Only one relay per store publishes at a time (a PostgreSQL advisory lock), so
per-key order is kept across several instances of a processor. A crash between publish and commit republishes rows
with the same `event_id`; consumers drop them as duplicates (effectively once).
"""

from __future__ import annotations

import asyncio
import zlib

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from csms.logs import get_logger
from processors.runtime import store
from processors.runtime.metrics import RuntimeMetrics

log = get_logger(__name__)


class OutboxRelay:
    def __init__(
        self,
        name: str,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        metrics: RuntimeMetrics,
        wakeup: asyncio.Event,
        *,
        batch: int = 5000,
        send_timeout: float = 30.0,
        idle_poll: float = 0.5,
    ) -> None:
        self.name, self.engine, self.producer, self.metrics = name, engine, producer, metrics
        self.wakeup, self.batch, self.send_timeout, self.idle_poll = wakeup, batch, send_timeout, idle_poll
        self._lock_key = zlib.crc32(f"csms-outbox-relay:{name}".encode())
        self._partitions: dict[str, list[int]] = {}
        self._partitioner = DefaultPartitioner()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with self.engine.connect() as lock_conn:
                    if not await self._try_lock(lock_conn):
                        await self._sleep(stop, 2.0)
                        continue
                    await self._publish_until_stopped(stop, lock_conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox relay error, retrying", error=repr(exc))
                await self._sleep(stop, 1.0)

    async def _try_lock(self, conn: AsyncConnection) -> bool:
        result = await conn.execute(sa.text("select pg_try_advisory_lock(:k)"), {"k": self._lock_key})
        await conn.commit()
        return bool(result.scalar_one())

    async def _publish_until_stopped(self, stop: asyncio.Event, lock_conn: AsyncConnection) -> None:
        while not stop.is_set():
            # cleared before reading the outbox, never after: a commit that wakes us while this round runs (its
            # rows may be after our snapshot) keeps the event set, so the next wait returns at once
            self.wakeup.clear()
            published = await self.publish_once()
            if published == 0:
                await lock_conn.execute(sa.text("select 1"))  # notices a lost lock connection
                await lock_conn.commit()
                await self._sleep(stop, self.idle_poll, clear=False)

    async def publish_once(self) -> int:
        """Publish up to `batch` rows; return how many."""
        async with self.engine.begin() as conn:
            rows = await store.take_outbox(conn, self.batch)
            if not rows:
                self.metrics.outbox_pending.set(0)
                return 0
            await asyncio.wait_for(self._send(rows), self.send_timeout)
        self.metrics.relayed.inc(len(rows))
        return len(rows)

    async def _send(self, rows: list[store.OutboxRow]) -> None:
        """Send rows as per-partition batches (keeps id order within each partition; far cheaper than send())."""
        by_partition: dict[tuple[str, int], list[store.OutboxRow]] = {}
        for row in rows:
            partitions = self._partitions.get(row.topic)
            if partitions is None:
                partitions = sorted(await self.producer.partitions_for(row.topic))
                self._partitions[row.topic] = partitions
            partition = self._partitioner(row.key, partitions, partitions)
            by_partition.setdefault((row.topic, partition), []).append(row)
        futures = []
        for (topic, partition), part_rows in by_partition.items():
            batch = self.producer.create_batch()
            for row in part_rows:
                headers = [("event_id", row.event_id.encode())]
                if row.schema_name:
                    headers.insert(0, ("schema", row.schema_name.encode()))
                if row.fingerprint:
                    headers.insert(1, ("fingerprint", row.fingerprint.encode()))
                if batch.append(key=row.key, value=row.value, timestamp=None, headers=headers) is None:
                    futures.append(await self.producer.send_batch(batch, topic, partition=partition))
                    batch = self.producer.create_batch()
                    if batch.append(key=row.key, value=row.value, timestamp=None, headers=headers) is None:
                        raise ValueError(f"outbox record {row.id} is larger than a producer batch")
            futures.append(await self.producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)

    async def _sleep(self, stop: asyncio.Event, seconds: float, *, clear: bool = True) -> None:
        if clear:
            self.wakeup.clear()
        waiters = [asyncio.ensure_future(self.wakeup.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

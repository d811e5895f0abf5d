"""Publishes the edge's events: durable before the charger is answered (DESIGN.md decision 4).

`publish_durable` returns once Kafka acked (idempotent producer, acks=all) within `durable_timeout_s`, or once the
records are fsync'd in the local spool. While the spool holds anything, new records go to the spool too, so a
station's records never overtake its earlier spooled ones; the drainer empties it in order when Kafka answers.

Records of all connections are gathered for one event-loop tick and sent as one producer batch per partition
(`send_batch`): per-record `send()` costs ~40 µs of Python in aiokafka, a batch append a few. Order per partition,
and so per station, is the order of the calls.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from csms.logs import get_logger
from ocpp_edge.spool import Spool, SpooledRecord

log = get_logger(__name__)


class _Waiter:
    __slots__ = ("future", "remaining")

    def __init__(self, future: asyncio.Future[None]) -> None:
        self.future = future
        self.remaining = 0

    def batch_done(self, done: asyncio.Future[object]) -> None:
        if self.future.done():
            return
        if done.cancelled():
            self.future.set_exception(ConnectionError("send cancelled"))
        elif done.exception() is not None:
            self.future.set_exception(done.exception())  # type: ignore[arg-type]
        else:
            self.remaining -= 1
            if self.remaining == 0:
                self.future.set_result(None)


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(TimeoutError("no Kafka ack within the durable timeout"))


class Publisher:
    def __init__(self, producer: AIOKafkaProducer, spool: Spool, *, durable_timeout: float,
                 flush_delay: float = 0.005) -> None:
        self.producer, self.spool, self.durable_timeout = producer, spool, durable_timeout
        self.flush_delay = flush_delay  # gathers several chargers' records into one produce request
        self._spool_lock = asyncio.Lock()
        self._drain_wakeup = asyncio.Event()
        self.spooled_total = 0
        self._queue: list[tuple[Sequence[SpooledRecord], _Waiter]] = []
        self._flush_scheduled = False
        self._partitions: dict[str, list[int]] = {}
        self._partition_of: dict[tuple[str, bytes], int] = {}
        self._partitioner = DefaultPartitioner()
        self._sending: set[asyncio.Task[None]] = set()
        self._send_lock = asyncio.Lock()  # flushes go out in call order (per-partition order)
        self._warned_at, self._fallbacks = float("-inf"), 0

    @property
    def spooling(self) -> bool:
        return self.spool.count > 0

    async def publish_durable(self, records: Sequence[SpooledRecord]) -> str:
        """Make `records` durable; returns "kafka" or "spool"."""
        if not self.spooling:
            loop = asyncio.get_running_loop()
            waiter = _Waiter(loop.create_future())
            self._queue.append((records, waiter))
            if not self._flush_scheduled:
                self._flush_scheduled = True
                loop.call_later(self.flush_delay, self._flush)
            timer = loop.call_later(self.durable_timeout, _expire, waiter.future)
            try:
                await waiter.future
                return "kafka"
            except Exception as exc:  # timeout, broker down, buffer full: fall back to the spool
                self._warn_spooling(exc, loop.time())
            finally:
                timer.cancel()
        async with self._spool_lock:
            await asyncio.to_thread(self.spool.append, records)
        self.spooled_total += len(records)
        self._drain_wakeup.set()
        return "spool"

    def _warn_spooling(self, exc: Exception, now: float) -> None:
        """One warning per second at most: in a storm thousands of publishes fall back in the same second."""
        self._fallbacks += 1
        if now - self._warned_at >= 1.0:
            log.warning("kafka did not ack in time; spooling", error=repr(exc), publishes=self._fallbacks)
            self._warned_at, self._fallbacks = now, 0

    def _flush(self) -> None:
        self._flush_scheduled = False
        queue, self._queue = self._queue, []
        task = asyncio.ensure_future(self._send(queue))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _partition(self, topic: str, key: bytes) -> int:
        cached = self._partition_of.get((topic, key))
        if cached is not None:
            return cached
        partitions = self._partitions.get(topic)
        if partitions is None:
            partitions = self._partitions[topic] = sorted(await self.producer.partitions_for(topic))
        partition: int = self._partitioner(key, partitions, partitions)
        if len(self._partition_of) > 500_000:
            self._partition_of.clear()
        self._partition_of[(topic, key)] = partition
        return partition

    async def _send(self, queue: list[tuple[Sequence[SpooledRecord], _Waiter]]) -> None:
        async with self._send_lock:
            await self._send_locked(queue)

    async def _send_locked(self, queue: list[tuple[Sequence[SpooledRecord], _Waiter]]) -> None:
        groups: dict[tuple[str, int], list[tuple[SpooledRecord, _Waiter]]] = {}
        try:
            for records, waiter in queue:
                for record in records:
                    part = await self._partition(record.topic, record.key)
                    groups.setdefault((record.topic, part), []).append((record, waiter))
            for (topic, partition), items in groups.items():
                await self._send_group(topic, partition, items)
        except Exception as exc:
            for _, waiter in queue:
                if not waiter.future.done():
                    waiter.future.set_exception(exc)

    async def _send_group(self, topic: str, partition: int, items: list[tuple[SpooledRecord, _Waiter]]) -> None:
        batch = self.producer.create_batch()
        members: set[_Waiter] = set()
        for record, waiter in items:
            if batch.append(key=record.key, value=record.value, timestamp=None, headers=list(record.headers)) is None:
                await self._submit(batch, topic, partition, members)
                batch, members = self.producer.create_batch(), set()
                if batch.append(key=record.key, value=record.value, timestamp=None,
                                headers=list(record.headers)) is None:
                    raise ValueError("a record larger than a producer batch")
            members.add(waiter)
        await self._submit(batch, topic, partition, members)

    async def _submit(self, batch: object, topic: str, partition: int, members: set[_Waiter]) -> None:
        for waiter in members:
            waiter.remaining += 1
        future = await self.producer.send_batch(batch, topic, partition=partition)
        for waiter in members:
            future.add_done_callback(waiter.batch_done)

    async def drain_forever(self, stop: asyncio.Event) -> None:
        """Re-send spooled records in order whenever there are any; truncate once all are acked."""
        while not stop.is_set():
            if self.spool.count == 0:
                self._drain_wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._drain_wakeup.wait(), 1.0)
                continue
            try:
                await self._drain_once()
            except Exception as exc:
                log.warning("spool drain failed; retrying", error=repr(exc), spooled=self.spool.count)
                await asyncio.sleep(1.0)

    async def _drain_once(self) -> None:
        """Send a snapshot of the spool without holding the lock (chargers keep spooling meanwhile), then drop
        exactly the acknowledged prefix; a failed attempt leaves the file as it was."""
        async with self._spool_lock:
            records = list(self.spool.read())
        for start in range(0, len(records), 2000):
            chunk = records[start: start + 2000]
            futures = []
            try:
                for r in chunk:
                    futures.append(await self.producer.send(r.topic, r.value, key=r.key, headers=list(r.headers)))
                await asyncio.wait_for(asyncio.gather(*futures), 30)
            finally:
                for future in futures:  # a failed attempt must not leave unretrieved exceptions behind
                    if future.done() and not future.cancelled():
                        future.exception()
                    else:
                        future.add_done_callback(_consume)
        async with self._spool_lock:
            await asyncio.to_thread(self.spool.drop_prefix, len(records))
        log.info("spool drained to kafka", records=len(records), still_spooled=self.spool.count)


def _consume(future: asyncio.Future[object]) -> None:
    if not future.cancelled():
        future.exception()

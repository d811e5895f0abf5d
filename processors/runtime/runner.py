"""The one consume loop every processor runs on (DESIGN.md decision 5).

For each batch from a plain aiokafka consumer group (manual offsets, read_committed), ONE PostgreSQL transaction
holds: a dedupe record per `event_id`, the handlers' effects, the outbox rows they emitted, dead letters, and the
next offsets. On assignment the consumer seeks to the offsets stored there, so Kafka's own committed offsets are
only a monitoring aid. Failures:

    DecodeError (bad framing, unknown fingerprint, corrupt body) ──> dead letter, partition goes on
    handler raises a non-transient error ──> batch rolled back, re-applied one event per savepoint;
                                            the failing event ──> dead letter, the rest applied
    transient error (database or network down) ──> batch rolled back and retried with back-off; never a dead letter
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from csms.kafka import make_consumer
from csms.logs import get_logger
from csms.settings import KafkaSettings
from processors.runtime import store
from processors.runtime.events import Event
from processors.runtime.metrics import RuntimeMetrics
from processors.runtime.spec import ProcessorSpec
from processors.runtime.uow import BatchUnitOfWork
from schemas import AvroCodec, DecodeError, TopicCatalog, header

log = get_logger(__name__)
DEAD_LETTER_TOPIC = "runtime.dead-letters"
DEAD_LETTER_SCHEMA = "csms.runtime.DeadLetter"
TRANSIENT_SQLSTATES = {"40001", "40P01", "57P01", "57P02", "57P03", "08000", "08003", "08006", "53300"}


def is_transient(exc: BaseException) -> bool:
    """Errors that say "try again later" rather than "this record is bad"."""
    if isinstance(exc, (OSError, ConnectionError, TimeoutError, sa.exc.OperationalError, sa.exc.InterfaceError)):
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        code = getattr(exc.orig, "sqlstate", None) or getattr(getattr(exc.orig, "__cause__", None), "sqlstate", None)
        return code in TRANSIENT_SQLSTATES
    return False


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runtime: Consumer) -> None:
        self.runtime = runtime

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            with contextlib.suppress(KeyError):
                self.runtime.metrics.lag.remove(self.runtime.spec.name, tp.topic, str(tp.partition))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self.runtime.seek_to_stored(assigned)


class Consumer:
    """Consumes a processor's topics into its store, exactly once."""

    def __init__(
        self,
        spec: ProcessorSpec,
        *,
        engine: AsyncEngine,
        kafka: KafkaSettings,
        topics: TopicCatalog,
        codec: AvroCodec,
        metrics: RuntimeMetrics,
        max_batch: int = 2000,
        outbox_wakeup: asyncio.Event | None = None,
    ) -> None:
        self.spec, self.engine, self.kafka_settings = spec, engine, kafka
        self.topics, self.codec, self.metrics = topics, codec, metrics
        self.max_batch = max_batch
        self.outbox_wakeup = outbox_wakeup or asyncio.Event()
        self.group = topics.prefix + spec.group_id  # tests/tenants sharing a cluster get their own groups
        self.physical_topics = [topics.name(t) for t in spec.topics]
        self._consumer: AIOKafkaConsumer | None = None
        self.assigned = False
        self.last_poll = 0.0
        self._lag_at = 0.0

    # -- lifecycle ---------------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        consumer = make_consumer(
            self.kafka_settings, group_id=self.group, max_poll_records=self.max_batch,
            client_id=f"{self.group}-consumer",
        )
        consumer.subscribe(self.physical_topics, listener=_Rebalance(self))
        self._consumer = consumer
        await consumer.start()
        ahead: _Decoded | None = None
        try:
            while not stop.is_set():
                if ahead is None:
                    ahead = self._decoded(await self._fetch(consumer, 200))
                current, ahead = ahead, None
                if current.records:
                    applying = asyncio.create_task(self._apply_until_done(current.records, stop, current))
                    try:
                        # while the batch waits on PostgreSQL, the next one is fetched and decoded (pure work: a
                        # batch still starts its transaction only after the previous one committed)
                        ahead = await self._decode_ahead(consumer, applying)
                    finally:
                        await applying
                await self._update_lag(consumer)
        finally:
            self._consumer = None
            await consumer.stop()

    async def _fetch(self, consumer: AIOKafkaConsumer, timeout_ms: int) -> list[ConsumerRecord[bytes, bytes]]:
        batch = await consumer.getmany(timeout_ms=timeout_ms, max_records=self.max_batch)
        self.last_poll = time.monotonic()
        self.assigned = bool(consumer.assignment())
        return [r for part in batch.values() for r in part]

    async def _decode_ahead(self, consumer: AIOKafkaConsumer, applying: asyncio.Task[None]) -> _Decoded | None:
        """The records already fetched, decoded a slice at a time so the applying batch resumes as soon as
        PostgreSQL answers it. None when nothing was buffered (the loop then polls with a timeout)."""
        records = await self._fetch(consumer, 0)
        if not records:
            return None
        decoded = _Decoded(records, [], [])
        for i in range(0, len(records), _DECODE_SLICE):
            if applying.done():
                events, dead = self._decode_all(records[i:])
                decoded.events += events
                decoded.dead += dead
                break
            events, dead = self._decode_all(records[i:i + _DECODE_SLICE])
            decoded.events += events
            decoded.dead += dead
            await asyncio.sleep(0)
        return decoded

    def _decoded(self, records: list[ConsumerRecord[bytes, bytes]]) -> _Decoded:
        events, dead = self._decode_all(records)
        return _Decoded(records, events, dead)

    async def seek_to_stored(self, assigned: Sequence[TopicPartition]) -> None:
        consumer = self._consumer
        if consumer is None or not assigned:
            return
        while True:
            try:
                async with self.engine.connect() as conn:
                    stored = await store.load_offsets(conn, self.group, {tp.topic for tp in assigned})
                break
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("offsets not readable, retrying", error=str(exc))
                await asyncio.sleep(1)
        for tp in assigned:
            position = stored.get((tp.topic, tp.partition))
            if position is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, position)
        log.info("partitions assigned", group=self.group, partitions=len(assigned))

    # -- applying ----------------------------------------------------------------------------------------------
    async def _apply_until_done(
        self, records: list[ConsumerRecord[bytes, bytes]], stop: asyncio.Event, decoded: _Decoded | None = None,
    ) -> None:
        delay = 0.2
        while True:
            started = time.perf_counter()
            try:
                if decoded is None:
                    await self.apply(records)
                else:
                    await self._apply_decoded(records, decoded.events, decoded.dead)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                self.metrics.transient_errors.inc()
                log.warning("transient failure, retrying batch", error=str(exc), records=len(records))
                if stop.is_set():
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self.metrics.batch_seconds.observe(time.perf_counter() - started)
            self.metrics.batch_size.observe(len(records))
            self.outbox_wakeup.set()
            await self._commit_to_kafka(records)
            return

    async def apply(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        """Apply one batch in one transaction; on a handler error, isolate the poison event and retry."""
        events, dead = self._decode_all(records)
        await self._apply_decoded(records, events, dead)

    async def _apply_decoded(
        self,
        records: Sequence[ConsumerRecord[bytes, bytes]],
        events: list[Event],
        dead: list[tuple[ConsumerRecord[bytes, bytes], str, str]],
    ) -> None:
        try:
            async with self.engine.begin() as conn:
                await self._apply_in(conn, records, events, dead, isolate=False)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.warning("handler failed on batch; isolating the failing event", error=repr(exc))
            async with self.engine.begin() as conn:
                await self._apply_in(conn, records, events, dead, isolate=True)

    async def _apply_in(
        self,
        conn: AsyncConnection,
        records: Sequence[ConsumerRecord[bytes, bytes]],
        events: list[Event],
        dead: list[tuple[ConsumerRecord[bytes, bytes], str, str]],
        *,
        isolate: bool,
    ) -> None:
        uow = BatchUnitOfWork(conn, self.codec, self.topics)
        dead_ids = [_dead_id(record) for record, _, _ in dead]
        fresh_ids = await store.claim_events(conn, [e.event_id for e in events] + dead_ids)
        # a record re-read after a rebalance is dead-lettered once, like any event is applied once
        dead = [d for d, dead_id in zip(dead, dead_ids, strict=True) if dead_id in fresh_ids]
        fresh: list[Event] = []
        for event in events:
            if event.event_id in fresh_ids:
                fresh.append(event)
                fresh_ids.discard(event.event_id)  # a duplicate inside the batch applies once
        failed: list[tuple[ConsumerRecord[bytes, bytes], str, str]] = []
        if isolate:
            failed = await self._dispatch_isolated(conn, uow, fresh, records)
        else:
            await self._dispatch(fresh, uow)
        for record, reason, error in dead + failed:
            self._dead_letter(uow, record, reason, error)
        await store.add_outbox(conn, uow.take())
        await store.save_offsets(conn, self.group, _next_offsets(records))
        if not isolate:
            self.metrics.applied.inc(len(fresh))
        else:
            self.metrics.applied.inc(len(fresh) - len(failed))
        self.metrics.duplicates.inc(len(events) - len(fresh))

    async def _dispatch(self, events: Sequence[Event], uow: BatchUnitOfWork) -> None:
        i = 0
        while i < len(events):
            schema = events[i].schema
            batch_handler = self.spec.batch_handlers.get(schema or "")
            if batch_handler is not None:
                j = i
                while j < len(events) and events[j].schema == schema:
                    j += 1
                await batch_handler(events[i:j], uow)
                i = j
                continue
            for handler in self.spec.handlers.get(schema or "", ()):
                await handler(events[i], uow)
            i += 1

    async def _dispatch_isolated(
        self,
        conn: AsyncConnection,
        uow: BatchUnitOfWork,
        events: Sequence[Event],
        records: Sequence[ConsumerRecord[bytes, bytes]],
    ) -> list[tuple[ConsumerRecord[bytes, bytes], str, str]]:
        by_position = {(r.topic, r.partition, r.offset): r for r in records}
        failed = []
        for event in events:
            emitted_before = len(uow.outbox_rows)
            savepoint = await conn.begin_nested()
            try:
                await self._dispatch([event], uow)
                await savepoint.commit()
            except Exception as exc:
                if is_transient(exc):
                    raise
                await savepoint.rollback()
                del uow.outbox_rows[emitted_before:]
                record = by_position[(self.topics.name(event.topic), event.partition, event.offset)]
                log.error("poison event sent to dead letters", event_id=event.event_id, topic=event.topic,
                          partition=event.partition, offset=event.offset, error=repr(exc))
                failed.append((record, "HANDLER_ERROR", f"{type(exc).__name__}: {exc}"))
        return failed

    def _decode_all(
        self, records: Sequence[ConsumerRecord[bytes, bytes]]
    ) -> tuple[list[Event], list[tuple[ConsumerRecord[bytes, bytes], str, str]]]:
        events, dead = [], []
        skip = self.spec.skip
        skipped = 0
        for record in records:
            if skip is not None and skip(record.headers or ()):
                skipped += 1
                continue
            try:
                events.append(self._decode(record))
            except DecodeError as exc:
                reason = "UNKNOWN_SCHEMA" if exc.unknown_schema else "UNDECODABLE"
                log.error("undecodable record sent to dead letters", topic=record.topic,
                          partition=record.partition, offset=record.offset, error=str(exc))
                dead.append((record, reason, str(exc)))
        if skipped:
            self.metrics.skipped.inc(skipped)
        return events, dead

    def _decode(self, record: ConsumerRecord[bytes, bytes]) -> Event:
        headers = tuple(record.headers or ())
        logical = self.topics.logical(record.topic)
        value: dict[str, Any] | None = None
        schema_name: str | None
        if record.value is None:
            raw_schema = header(headers, "schema")
            schema_name = raw_schema.decode() if raw_schema else self.topics.spec(logical).value_schema
        else:
            decoded = self.codec.decode(record.value)
            value, schema_name = decoded.value, decoded.schema
        raw_id = header(headers, "event_id")
        if raw_id:
            event_id = raw_id.decode()
        elif value is not None and value.get("event_id"):
            event_id = str(value["event_id"])
        else:
            event_id = f"{record.topic}:{record.partition}:{record.offset}"
        key = record.key.decode("utf-8", "replace") if record.key is not None else None
        return Event(logical, record.partition, record.offset, key, schema_name, value, event_id,
                     record.timestamp, headers)

    def _dead_letter(self, uow: BatchUnitOfWork, record: ConsumerRecord[bytes, bytes], reason: str, error: str) -> None:
        self.metrics.dead_letters.labels(processor=self.spec.name, reason=reason).inc()
        original = header(record.headers, "event_id")
        uow.emit(
            DEAD_LETTER_TOPIC,
            self.group,
            DEAD_LETTER_SCHEMA,
            {
                "original_event_id": original.decode("utf-8", "replace") if original else None,
                "consumer_group": self.group,
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "key": record.key,
                "value": record.value,
                "headers": {k: v for k, v in (record.headers or ())},
                "reason": reason,
                "error": error[:4000],
                "failed_at": datetime.now(UTC),
            },
        )

    async def _commit_to_kafka(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        """Mirror the stored offsets into Kafka for lag tooling; the database stays the source of truth."""
        consumer = self._consumer
        if consumer is None:
            return
        assignment = consumer.assignment()
        offsets = {TopicPartition(t, p): o for (t, p), o in _next_offsets(records).items()
                   if TopicPartition(t, p) in assignment}
        if offsets:
            with contextlib.suppress(Exception):
                await consumer.commit(offsets)

    async def _update_lag(self, consumer: AIOKafkaConsumer) -> None:
        now = time.monotonic()
        if now - self._lag_at < 1.0:
            return
        self._lag_at = now
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            with contextlib.suppress(Exception):
                position = await asyncio.wait_for(consumer.position(tp), 0.5)
                self.metrics.lag.labels(self.spec.name, tp.topic, str(tp.partition)).set(max(0, highwater - position))


_DECODE_SLICE = 100  # records decoded between two yields to the batch being applied


@dataclass
class _Decoded:
    """A fetched batch and what decoding it gave (events, and undecodable records for the dead letters)."""

    records: list[ConsumerRecord[bytes, bytes]]
    events: list[Event]
    dead: list[tuple[ConsumerRecord[bytes, bytes], str, str]]


def _dead_id(record: ConsumerRecord[bytes, bytes]) -> str:
    original = header(record.headers, "event_id")
    base = original.decode("utf-8", "replace") if original else f"{record.topic}:{record.partition}:{record.offset}"
    return f"dead:{base}"


def _next_offsets(records: Sequence[ConsumerRecord[bytes, bytes]]) -> dict[tuple[str, int], int]:
    positions: dict[tuple[str, int], int] = {}
    for r in records:
        key = (r.topic, r.partition)
        positions[key] = max(positions.get(key, 0), r.offset + 1)
    return positions

"""The Kafka side of command routing (ocpp_edge/dispatch.py): one group-less consumer of `ocpp.commands`,
`edge.presence` and `edge.deliveries`, and the writer of presence, claims and outcomes.

`CommandLog.wait_applied` is what makes a claim a decision: after producing a claim at offset N, the dispatcher
waits until the consumer has applied partition records up to N, so it knows whether an earlier claim exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from csms.kafka import make_admin, make_consumer
from csms.logs import get_logger
from csms.settings import KafkaSettings
from ocpp_edge.spool import SpooledRecord
from schemas import AvroCodec, DecodeError, TopicCatalog

log = get_logger(__name__)
COMMANDS, OUTCOMES = "ocpp.commands", "ocpp.command-outcomes"
PRESENCE, DELIVERIES = "edge.presence", "edge.deliveries"
SCHEMAS = {OUTCOMES: "csms.ocpp.OcppCommandOutcome", PRESENCE: "csms.ocpp.EdgePresence",
           DELIVERIES: "csms.ocpp.CommandDelivery"}


def utc_now() -> datetime:
    return datetime.now(UTC)


class CommandLog:
    def __init__(self, kafka: KafkaSettings, topics: TopicCatalog, codec: AvroCodec, producer: AIOKafkaProducer,
                 *, lookback: timedelta, send_timeout: float) -> None:
        self.kafka, self.topics, self.codec, self.producer = kafka, topics, codec, producer
        self.lookback, self.send_timeout = lookback, send_timeout
        self.ready = asyncio.Event()
        self._names = {topics.name(n): n for n in (COMMANDS, PRESENCE, DELIVERIES)}
        self._positions: dict[TopicPartition, int] = {}
        self._progress = asyncio.Event()
        self._send_lock = asyncio.Lock()

    # -- reading ---------------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, apply: Callable[[str, str, dict[str, Any] | None], None]) -> None:
        """Feed `apply(logical topic, key, value or None)` in log order per partition until `stop`."""
        consumer = make_consumer(self.kafka, group_id=None, fetch_max_wait_ms=100)
        await consumer.start()
        try:
            end = await self._assign(consumer)
            remaining = {tp for tp, offset in end.items() if offset > await consumer.position(tp)}
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=200, max_records=5000)
                for tp, records in batch.items():
                    for record in records:
                        self._apply(self._names[tp.topic], record, apply)
                    if records:
                        self._positions[tp] = records[-1].offset + 1
                for tp in list(remaining):
                    if await consumer.position(tp) >= end[tp]:
                        remaining.discard(tp)
                if not remaining and not self.ready.is_set():
                    self.ready.set()
                self._progress.set()
                self._progress = asyncio.Event()
        finally:
            await consumer.stop()

    async def _assign(self, consumer: AIOKafkaConsumer) -> dict[TopicPartition, int]:
        """Presence and deliveries from the beginning; commands from `lookback` ago."""
        admin = make_admin(self.kafka)
        await admin.start()
        try:
            for attempt in range(20):  # topics created a moment ago may not be in every broker's metadata yet
                described = await admin.describe_topics(list(self._names))
                missing = [d["topic"] for d in described if d.get("error_code")]
                if not missing:
                    break
                if attempt < 19:
                    await asyncio.sleep(0.5)
        finally:
            await admin.close()
        if missing:
            raise RuntimeError(f"command topics missing: {missing}; run `csms topics apply`")
        partitions = [TopicPartition(d["topic"], x["partition"]) for d in described for x in d["partitions"]]
        consumer.assign(partitions)
        commands = [tp for tp in partitions if self._names[tp.topic] == COMMANDS]
        await consumer.seek_to_beginning(*[tp for tp in partitions if tp not in commands])
        since = int((utc_now() - self.lookback).timestamp() * 1000)
        found = await consumer.offsets_for_times(dict.fromkeys(commands, since))
        for tp in commands:
            at = found.get(tp)
            if at is not None:
                consumer.seek(tp, at.offset)
            else:
                await consumer.seek_to_end(tp)
        return dict(await consumer.end_offsets(partitions))

    def _apply(self, logical: str, record: Any, apply: Callable[[str, str, dict[str, Any] | None], None]) -> None:
        if record.key is None:
            return
        try:
            value = self.codec.decode(record.value).value if record.value is not None else None
        except DecodeError as exc:
            log.error("undecodable record ignored", topic=logical, offset=record.offset, error=str(exc))
            return
        apply(logical, record.key.decode(), value)

    async def wait_applied(self, tp: TopicPartition, offset: int, timeout: float) -> bool:
        """Wait until the record at `offset` of `tp` has been applied; False on timeout."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._positions.get(tp, 0) <= offset:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), left)
        return True

    # -- writing ---------------------------------------------------------------------------------------------
    def record(self, logical: str, key: str, value: dict[str, Any]) -> SpooledRecord:
        schema = SCHEMAS[logical]
        return SpooledRecord(self.topics.name(logical), key.encode(), self.codec.encode(schema, value),
                             tuple(self.codec.headers(schema, value["event_id"])))

    async def send(self, logical: str, key: str, value: dict[str, Any] | None) -> Any:
        """Produce one record straight to Kafka (appended in call order); its metadata, or None on failure."""
        topic = self.topics.name(logical)
        try:
            async with self._send_lock:
                if value is None:
                    future = await self.producer.send(topic, None, key=key.encode())
                else:
                    record = self.record(logical, key, value)
                    future = await self.producer.send(topic, record.value, key=record.key,
                                                      headers=list(record.headers))
            future.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved: no asyncio warning
            return await asyncio.wait_for(asyncio.shield(future), self.send_timeout)
        except Exception as exc:
            log.warning("could not write", topic=logical, key=key, error=repr(exc))
            return None


def delivery_value(command_id: str, station_id: str, edge_id: str, state: str, *, status: str | None = None,
                   connection_id: str | None = None) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "command_id": command_id, "station_id": station_id, "edge_id": edge_id,
            "connection_id": connection_id, "state": state, "status": status, "at": utc_now()}


def presence_value(kind: str, edge_id: str, *, station_id: str | None = None, connection_id: str | None = None,
                   version: str | None = None) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "kind": kind, "edge_id": edge_id, "station_id": station_id,
            "connection_id": connection_id, "ocpp_version": version, "at": utc_now()}


def outcome_value(command_id: str, station_id: str, action: str, edge_id: str, status: str, *,
                  result_json: str | None = None, code: str | None = None, description: str | None = None
                  ) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "command_id": command_id, "station_id": station_id, "action": action,
            "status": status, "result_json": result_json, "error_code": code, "error_description": description,
            "edge_id": edge_id, "completed_at": utc_now()}

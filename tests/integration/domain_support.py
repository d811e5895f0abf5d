"""Helpers for the domain processors' integration tests: feed OCPP frames, connection events and commands to the
real broker, run a processor in-process, read its topics back and dump its store."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from csms.kafka import apply_topics, make_consumer, make_producer
from csms.settings import KafkaSettings
from processors.runtime import ProcessorSettings, ProcessorSpec, Running, serve
from schemas import AvroCodec, load_topics

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


async def create_topics(kafka: KafkaSettings, names: Iterable[str]) -> None:
    """Create the named topics (and the dead-letter topic) under the test's prefix, 2 partitions at most."""
    wanted = {*names, "runtime.dead-letters", "commands.outcomes"}
    await apply_topics(kafka, load_topics().with_prefix(kafka.topic_prefix), only=sorted(wanted), max_partitions=2)


class Feed:
    """Produces records the way the edge and read_api do (single-object Avro, schema/event_id headers)."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.kafka = kafka
        self.codec = AvroCodec()
        self.producer = make_producer(kafka)
        self.pending: list[asyncio.Future[Any]] = []
        self._seq = 0

    async def __aenter__(self) -> Feed:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.flush()
        await self.producer.stop()

    async def flush(self) -> None:
        await asyncio.gather(*self.pending)
        self.pending.clear()

    async def send(self, topic: str, key: str, schema: str, value: dict[str, Any]) -> str:
        event_id = value.setdefault("event_id", str(uuid.uuid4()))
        data = self.codec.encode(schema, value)
        headers = self.codec.headers(schema, event_id)
        if schema == "csms.ocpp.OcppMessage":  # as the edge does: processors may skip on them before decoding
            headers.append(("ocpp_type", str(value["message_type"]).encode()))
            if value.get("action"):
                headers.append(("ocpp_action", str(value["action"]).encode()))
        self.pending.append(await self.producer.send(self.kafka.topic_prefix + topic, data, key=key.encode(),
                                                     headers=headers))
        return str(event_id)

    def _frame(self, station: str, version: str, direction: str, kind: str, action: str | None,
               payload: dict[str, Any] | None, request: dict[str, Any] | None, at: datetime, message_id: str,
               command_id: str | None = None) -> dict[str, Any]:
        self._seq += 1
        return {
            "event_id": str(uuid.uuid4()), "station_id": station, "edge_id": "edge-test",
            "connection_id": f"conn-{station}", "ocpp_version": version, "direction": direction,
            "message_type": kind, "message_id": message_id, "action": action,
            "payload_json": orjson.dumps(payload).decode() if payload is not None else None,
            "error_code": None, "error_description": None, "error_details_json": None,
            "charger_timestamp": None, "received_at": at, "sequence": self._seq, "in_reply_to": None,
            "command_id": command_id,
            "request_payload_json": orjson.dumps(request).decode() if request is not None else None,
        }

    async def charger_call(self, station: str, action: str, request: dict[str, Any], answer: dict[str, Any], *,
                           at: datetime, version: str = "ocpp1.6") -> str:
        """A charger CALL and the edge's CALLRESULT (carrying the request); returns the CALLRESULT's event id."""
        mid = uuid.uuid4().hex[:12]
        await self.send("ocpp.messages", station, "csms.ocpp.OcppMessage",
                        self._frame(station, version, "CHARGER_TO_CSMS", "CALL", action, request, None, at, mid))
        return await self.send("ocpp.messages", station, "csms.ocpp.OcppMessage", self._frame(
            station, version, "CSMS_TO_CHARGER", "CALLRESULT", action, answer, request,
            at + timedelta(milliseconds=5), mid))

    async def csms_call(self, station: str, action: str, request: dict[str, Any], answer: dict[str, Any], *,
                        at: datetime, version: str = "ocpp1.6") -> str:
        """A CSMS-initiated CALL and the charger's CALLRESULT (carrying the request)."""
        mid = uuid.uuid4().hex[:12]
        await self.send("ocpp.messages", station, "csms.ocpp.OcppMessage",
                        self._frame(station, version, "CSMS_TO_CHARGER", "CALL", action, request, None, at, mid))
        return await self.send("ocpp.messages", station, "csms.ocpp.OcppMessage", self._frame(
            station, version, "CHARGER_TO_CSMS", "CALLRESULT", action, answer, request,
            at + timedelta(milliseconds=5), mid))

    async def connection(self, station: str, kind: str, *, at: datetime, version: str = "ocpp1.6") -> str:
        return await self.send("ocpp.connections", station, "csms.ocpp.ConnectionEvent", {
            "station_id": station, "edge_id": "edge-test", "connection_id": f"conn-{station}", "kind": kind,
            "ocpp_version": version, "remote_address": None, "security_profile": None, "close_code": None,
            "close_reason": None, "at": at})

    async def command(self, topic: str, command_type: str, payload: dict[str, Any], *,
                      aggregate_id: str | None = None, at: datetime = T0, key: str | None = None) -> str:
        """A domain command as read_api publishes it; returns its command id. Commands with different keys may
        apply in any order; give a sequence that depends on each other one `key` (one partition)."""
        command_id = str(uuid.uuid4())
        await self.send(topic, key or aggregate_id or command_id, "csms.common.Command", {
            "command_id": command_id, "command_type": command_type, "aggregate_id": aggregate_id,
            "payload_json": orjson.dumps(payload).decode(), "requested_by": "test", "requested_at": at})
        return command_id


@contextlib.asynccontextmanager
async def running(spec: ProcessorSpec, settings: ProcessorSettings) -> AsyncIterator[Running]:
    """Run a processor in-process for the body of the `async with`.

    The consumer group gets a unique name: group ids are not under the topic prefix, and tests (of several
    engineers) sharing one group on one broker would wait on each other's rebalances.
    """
    spec = dataclasses.replace(spec, name=f"{spec.name}-{uuid.uuid4().hex[:8]}")
    stop = asyncio.Event()
    started: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(spec, settings, stop, on_started=started.set_result))
    try:
        yield await asyncio.wait_for(started, 60)
    finally:
        stop.set()
        await task


async def drained(url: str, timeout: float = 20) -> None:
    """Wait until the store's outbox is empty (everything it emitted is on the broker)."""
    async def empty() -> bool:
        return (await fetch(url, "select count(*) as n from runtime_outbox"))[0]["n"] == 0
    await wait_for(empty, timeout, "the outbox to drain")


async def read_topic(kafka: KafkaSettings, logical: str, expected: int | None = None,
                     timeout: float = 20) -> list[Any]:
    """Decoded (key, schema, value) of a topic's records from the beginning, until `expected` arrived (or, when
    None, up to the partitions' end offsets at the time of the call)."""
    codec = AvroCodec()
    consumer = make_consumer(kafka, kafka.topic_prefix + logical, group_id=None)
    await consumer.start()
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        ends: dict[Any, int] = {}
        if expected is None:
            await wait_for(lambda: asyncio.sleep(0, bool(consumer.assignment())), timeout, "assignment")
            ends = await consumer.end_offsets(list(consumer.assignment()))

        async def more() -> bool:
            if expected is not None:
                return len(out) < expected
            for tp, end in ends.items():
                if await consumer.position(tp) < end:
                    return True
            return False
        while await more() and time.monotonic() < deadline:
            for part in (await consumer.getmany(timeout_ms=300)).values():
                for r in part:
                    value = codec.decode(r.value) if r.value is not None else None
                    out.append((r.key.decode() if r.key else None, value.schema if value else None,
                                value.value if value else None))
    finally:
        await consumer.stop()
    return out


async def wait_for(check: Callable[[], Awaitable[Any]], timeout: float = 45, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def outcomes(kafka: KafkaSettings, command_ids: Iterable[str], timeout: float = 20) -> dict[str, Any]:
    """The commands.outcomes values of the given commands, by command id."""
    wanted = set(command_ids)
    found: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for _, _, v in await read_topic(kafka, "commands.outcomes", None, timeout):
            if v and v["command_id"] in wanted:
                found[v["command_id"]] = v
        if set(found) == wanted:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"no outcome for commands {sorted(wanted - set(found))}")


async def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every domain table's rows (not the runtime's), sorted: two stores are equal when their dumps are."""
    tables = [r["tablename"] for r in await fetch(
        url, "select tablename from pg_tables where schemaname = 'public' and tablename not like 'runtime_%' "
             "and tablename <> 'alembic_version'")]
    out = {}
    for table in sorted(tables):
        rows = await fetch(url, f'select * from "{table}"')
        out[table] = sorted((tuple(r.values()) for r in rows), key=repr)
    return out

"""Helpers for the billing integration tests: topics, OCPP exchanges as the edge publishes them, commands."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from csms.kafka import apply_topics, make_producer
from csms.settings import KafkaSettings
from processors.billing.bootstrap import TOPICS, run
from processors.billing.settings import BillingSettings
from schemas import AvroCodec, load_topics

OUT = ["billing.events", "billing.sessions", "commands.outcomes", "ocpp.commands", "runtime.dead-letters"]
CODEC = AvroCodec()


async def create_topics(kafka: KafkaSettings) -> None:
    await apply_topics(kafka, load_topics().with_prefix(kafka.topic_prefix), only=TOPICS + OUT, max_partitions=2)


class Producer:
    """Produces records the way the edge and read_api do (event_id header, key = aggregate id)."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.kafka = kafka
        self.producer = make_producer(kafka)

    async def send(self, topic: str, key: str, schema: str, value: dict[str, Any], event_id: str | None = None) -> str:
        event_id = event_id or str(uuid.uuid4())
        value = {**value, "event_id": event_id}
        await self.producer.send_and_wait(self.kafka.topic_prefix + topic, CODEC.encode(schema, value),
                                          key=key.encode(), headers=CODEC.headers(schema, event_id))
        return event_id

    async def exchange(self, station: str, version: str, action: str, request: dict[str, Any],
                       answer: dict[str, Any], at: datetime, event_id: str | None = None) -> str:
        """The charger's CALL and the edge's CALLRESULT (which carries the request); returns the result's id."""
        message_id = uuid.uuid4().hex[:12]
        common = {"station_id": station, "edge_id": "edge-1", "connection_id": "c1", "ocpp_version": version,
                  "message_id": message_id, "action": action, "received_at": at, "sequence": 0}
        call = await self.send("ocpp.messages", station, "csms.ocpp.OcppMessage", {
            **common, "direction": "CHARGER_TO_CSMS", "message_type": "CALL",
            "payload_json": orjson.dumps(request).decode()})
        return await self.send("ocpp.messages", station, "csms.ocpp.OcppMessage", {
            **common, "direction": "CSMS_TO_CHARGER", "message_type": "CALLRESULT", "in_reply_to": call,
            "payload_json": orjson.dumps(answer).decode(), "request_payload_json": orjson.dumps(request).decode()},
            event_id=event_id)

    async def command(self, command_type: str, payload: dict[str, Any], aggregate_id: str | None = None) -> str:
        command_id = str(uuid.uuid4())
        await self.send("billing.commands", aggregate_id or command_id, "csms.common.Command", {
            "command_id": command_id, "command_type": command_type, "aggregate_id": aggregate_id,
            "payload_json": orjson.dumps(payload).decode(), "requested_at": datetime.now(UTC)})
        return command_id


@contextlib.asynccontextmanager
async def billing(kafka: KafkaSettings, url: str, **overrides: Any) -> AsyncIterator[Producer]:
    """The billing processor running in-process, and a producer to feed it."""
    await create_topics(kafka)
    options: dict[str, Any] = {"max_batch": 500, "log_level": "WARNING", "housekeeping_interval_s": 0.5,
                               "http_port": 0, **overrides}
    settings = BillingSettings(database_url=url, kafka=kafka, **options)
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop))
    producer = Producer(kafka)
    await producer.producer.start()
    try:
        yield producer
    finally:
        await producer.producer.stop()
        stop.set()
        await task


async def fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    except asyncpg.UndefinedTableError:
        return []
    finally:
        await conn.close()


async def until(url: str, sql: str, *args: Any, timeout: float = 20) -> list[asyncpg.Record]:
    """Poll a query until it returns rows."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rows = await fetch(url, sql, *args)
        if rows:
            return rows
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for: {sql}")
        await asyncio.sleep(0.1)

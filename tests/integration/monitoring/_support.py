"""Helpers for monitoring's integration tests: OCPP frames as the edge publishes them, producing, running."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
from alembic.command import upgrade
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from csms.kafka import apply_topics, make_producer
from csms.settings import KafkaSettings
from processors.monitoring import MonitoringSettings, bootstrap, run
from processors.runtime.migrate import alembic_config, async_url
from schemas import AvroCodec, load_topics

TOPICS = [*bootstrap.INPUT_TOPICS, "monitoring.alerts", "commands.outcomes"]
_seq = itertools.count()


def frames(station: str, action: str, request: dict[str, Any], answer: dict[str, Any] | None = None, *,
           version: str = "ocpp1.6", at: datetime | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """The charger's CALL and the edge's CALLRESULT (carrying the request), as (topic, schema, value)."""
    at = at or datetime.now(UTC)
    message_id = uuid.uuid4().hex[:12]
    common = {"station_id": station, "edge_id": "edge-1", "connection_id": f"conn-{station}", "ocpp_version": version,
              "message_id": message_id, "action": action, "received_at": at}
    call = {**common, "event_id": str(uuid.uuid4()), "direction": "CHARGER_TO_CSMS", "message_type": "CALL",
            "payload_json": orjson.dumps(request).decode(), "sequence": next(_seq)}
    result = {**common, "event_id": str(uuid.uuid4()), "direction": "CSMS_TO_CHARGER", "message_type": "CALLRESULT",
              "payload_json": orjson.dumps(answer or {}).decode(), "request_payload_json": call["payload_json"],
              "sequence": next(_seq), "in_reply_to": call["event_id"]}
    return [("ocpp.messages", "csms.ocpp.OcppMessage", call), ("ocpp.messages", "csms.ocpp.OcppMessage", result)]


def connection(station: str, kind: str, at: datetime, connection_id: str | None = None) -> tuple[str, str, dict]:
    return ("ocpp.connections", "csms.ocpp.ConnectionEvent",
            {"event_id": str(uuid.uuid4()), "station_id": station, "edge_id": "edge-1",
             "connection_id": connection_id or f"conn-{station}", "kind": kind, "at": at})


def command(command_type: str, payload: dict[str, Any], aggregate_id: str | None = None) -> tuple[str, str, dict]:
    return ("monitoring.commands", "csms.common.Command",
            {"event_id": str(uuid.uuid4()), "command_id": str(uuid.uuid4()), "command_type": command_type,
             "aggregate_id": aggregate_id, "payload_json": orjson.dumps(payload).decode(), "requested_by": "op-1",
             "requested_at": datetime.now(UTC)})


async def produce(kafka: KafkaSettings, records: list[tuple[str, str, dict[str, Any]]], *,
                  edge_headers: bool = False) -> None:
    """Produce records in order (key = station id, or the command's aggregate id); `edge_headers` adds the
    `ocpp_type` / `ocpp_action` headers the edge puts on OCPP messages."""
    codec = AvroCodec()
    producer = make_producer(kafka)
    await producer.start()
    try:
        for topic, schema, value in records:
            key = value.get("station_id") or value.get("aggregate_id") or value.get("consumer_group") or "k"
            headers = codec.headers(schema, value["event_id"])
            if edge_headers and schema == "csms.ocpp.OcppMessage":
                headers += [("ocpp_type", value["message_type"].encode()), ("ocpp_action", value["action"].encode())]
            await producer.send_and_wait(kafka.topic_prefix + topic, codec.encode(schema, value), key=key.encode(),
                                         headers=headers)
    finally:
        await producer.stop()


async def create_topics(kafka: KafkaSettings) -> None:
    await apply_topics(kafka, load_topics().with_prefix(kafka.topic_prefix), only=TOPICS, max_partitions=2)


@contextlib.asynccontextmanager
async def running(settings: MonitoringSettings) -> AsyncIterator[None]:
    """The monitoring processor (consumer, relay, evaluator, webhooks, partitions) in-process."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def migrated_engine(url: str) -> AsyncEngine:
    """A fresh database migrated to head, and an engine on it."""
    await asyncio.to_thread(upgrade, alembic_config(url, bootstrap.MIGRATIONS), "head")
    return create_async_engine(async_url(url))


async def scalar(url: str, sql: str) -> Any:
    """One value from the database; None while the store is not migrated yet."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    except asyncpg.UndefinedTableError:
        return None
    finally:
        await conn.close()


async def wait_for(check: Any, timeout: float = 30, what: str = "condition") -> float:
    """Poll `check` until true; returns the seconds it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while loop.time() - started < timeout:
        if await check():
            return loop.time() - started
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")

"""Run a real edge in-process against the test broker, seed its compacted topics, read its events back."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from csms.kafka import apply_topics, make_consumer, make_producer
from csms.settings import KafkaSettings
from ocpp_edge.server import Edge
from ocpp_edge.settings import EdgeSettings
from ocpp_edge.topics import EDGE_TOPICS
from schemas import AvroCodec, load_topics


async def create_topics(kafka: KafkaSettings) -> None:
    await apply_topics(kafka, load_topics(prefix=kafka.topic_prefix), only=EDGE_TOPICS, max_partitions=2)


def station(station_id: str, status: str = "ACCEPTED", **over: Any) -> dict[str, Any]:
    value = {"event_id": str(uuid.uuid4()), "station_id": station_id, "status": status, "heartbeat_interval_s": 120,
             "security_profile": 0, "password_hash": None, "operator_id": "op-1", "location_id": None,
             "allowed_ocpp_versions": [], "version": 1, "updated_at": datetime.now(UTC)}
    value.update(over)
    return value


def token(id_token: str, status: str = "ACTIVE", token_type: str = "ISO14443", **over: Any) -> dict[str, Any]:
    value = {"event_id": str(uuid.uuid4()), "id_token": id_token, "token_type": token_type, "status": status,
             "expires_at": None, "group_id": None, "driver_id": "drv-1", "allow_concurrent_sessions": False,
             "allowed_station_ids": None, "allowed_location_ids": None, "version": 1,
             "updated_at": datetime.now(UTC)}
    value.update(over)
    return value


async def seed(kafka: KafkaSettings, stations: Iterable[dict[str, Any]] = (),
               tokens: Iterable[dict[str, Any]] = ()) -> None:
    codec = AvroCodec()
    producer = make_producer(kafka)
    await producer.start()
    try:
        for value in stations:
            await producer.send_and_wait(
                kafka.topic_prefix + "stations.registry", codec.encode("csms.stations.StationRegistryEntry", value),
                key=value["station_id"].encode(), headers=codec.headers("csms.stations.StationRegistryEntry",
                                                                        value["event_id"]))
        for value in tokens:
            key = f"{value['token_type']}:{value['id_token']}".encode()
            await producer.send_and_wait(
                kafka.topic_prefix + "auth.tokens", codec.encode("csms.authorization.TokenState", value), key=key,
                headers=codec.headers("csms.authorization.TokenState", value["event_id"]))
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def running_edge(kafka: KafkaSettings, spool: Path, **settings: Any) -> AsyncIterator[Edge]:
    edge = Edge(EdgeSettings(kafka=kafka, port=0, http_port=0, spool_dir=spool, edge_id=f"e-{uuid.uuid4().hex[:6]}",
                             **settings))
    await edge.start()
    try:
        yield edge
    finally:
        await edge.stop()


async def read_events(kafka: KafkaSettings, topic: str, station_id: str | None = None, *, until: int,
                      timeout: float = 20) -> list[dict[str, Any]]:
    """Decoded values of `topic` (optionally only one station's), from the beginning, until `until` arrived."""
    codec = AvroCodec()
    consumer = make_consumer(kafka, kafka.topic_prefix + topic, group_id=None)
    await consumer.start()
    found: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while len(found) < until and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for record in sorted((r for part in batch.values() for r in part), key=lambda r: r.offset):
                value = codec.decode(record.value).value
                if station_id is None or value.get("station_id") == station_id:
                    found.append(value)
    finally:
        await consumer.stop()
    return found

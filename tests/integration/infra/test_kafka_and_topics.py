"""The project's own Kafka broker: transactions work with aiokafka, topics.yaml applies idempotently."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import orjson
import pytest
from aiokafka.errors import KafkaError

from csms.kafka import TopicPlanError, apply_topics, make_consumer, make_producer
from csms.settings import KafkaSettings
from schemas import AvroCodec, TopicCatalog, TopicSpec, load_topics

pytestmark = pytest.mark.integration


async def test_broker_is_kraft_with_auto_create_disabled(kafka_settings: KafkaSettings) -> None:
    producer = make_producer(kafka_settings, request_timeout_ms=3000)
    await producer.start()
    try:
        with pytest.raises((KafkaError, asyncio.TimeoutError)):
            await asyncio.wait_for(producer.send_and_wait(f"{kafka_settings.topic_prefix}not.declared", b"x"), 8)
    finally:
        await producer.stop()


async def test_aiokafka_transactions_commit_and_abort(kafka_settings: KafkaSettings) -> None:
    """CI smoke test: a committed transaction is visible to read_committed readers, an aborted one is not."""
    catalog = TopicCatalog((TopicSpec("smoke.tx", "k", 1, "delete", 3_600_000, None),), kafka_settings.topic_prefix)
    await apply_topics(kafka_settings, catalog)
    topic = catalog.name("smoke.tx")
    producer = make_producer(kafka_settings, transactional_id=f"smoke-{uuid.uuid4()}")
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send_and_wait(topic, b"committed-1")
        await producer.begin_transaction()
        await producer.send_and_wait(topic, b"aborted")
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send_and_wait(topic, b"committed-2")
    finally:
        await producer.stop()
    consumer = make_consumer(kafka_settings, topic, group_id=None)
    await consumer.start()
    seen: list[bytes] = []
    try:
        for _ in range(20):
            batch = await consumer.getmany(timeout_ms=300)
            seen += [r.value for part in batch.values() for r in part]
            if len(seen) >= 2:
                break
    finally:
        await consumer.stop()
    assert seen == [b"committed-1", b"committed-2"]


async def test_topics_apply_is_idempotent_and_refuses_to_shrink(kafka_settings: KafkaSettings) -> None:
    catalog = load_topics(prefix=kafka_settings.topic_prefix)
    only = ["stations.registry", "ocpp.connections"]
    first = await apply_topics(kafka_settings, catalog, only=only, max_partitions=2)
    assert {c.action for c in first} == {"created"}
    again = await apply_topics(kafka_settings, catalog, only=only, max_partitions=2)
    assert {c.action for c in again} == {"unchanged"}
    grown = await apply_topics(kafka_settings, catalog, only=["ocpp.connections"], max_partitions=3)
    assert grown[0].action == "partitions" and grown[0].detail == "2 -> 3"
    smaller = TopicCatalog((TopicSpec("ocpp.connections", "station_id", 1, "delete", 86_400_000, None),),
                           kafka_settings.topic_prefix)
    with pytest.raises(TopicPlanError, match="cannot shrink"):
        await apply_topics(kafka_settings, smaller)


def test_csms_events_tail_prints_decoded_records(kafka_settings: KafkaSettings) -> None:
    async def produce() -> None:
        await apply_topics(kafka_settings, load_topics(prefix=kafka_settings.topic_prefix),
                           only=["ocpp.connections"], max_partitions=1)
        codec = AvroCodec()
        producer = make_producer(kafka_settings)
        await producer.start()
        from datetime import UTC, datetime
        event_id = str(uuid.uuid4())
        value = {"event_id": event_id, "station_id": "CP-T", "edge_id": "e1", "connection_id": "c",
                 "kind": "CONNECTED", "at": datetime.now(UTC)}
        await producer.send_and_wait(kafka_settings.topic_prefix + "ocpp.connections",
                                     codec.encode("csms.ocpp.ConnectionEvent", value), key=b"CP-T",
                                     headers=codec.headers("csms.ocpp.ConnectionEvent", event_id))
        await producer.stop()

    asyncio.run(produce())
    out = subprocess.run(
        [sys.executable, "-m", "csms.cli", "events", "tail", "ocpp.connections", "--from-beginning",
         "--limit", "1", "--idle-timeout", "20", "--bootstrap", kafka_settings.bootstrap,
         "--prefix", kafka_settings.topic_prefix],
        capture_output=True, timeout=60, check=True,
    )
    line = orjson.loads(out.stdout.splitlines()[0])
    assert line["schema"] == "csms.ocpp.ConnectionEvent"
    assert line["key"] == "CP-T" and line["value"]["kind"] == "CONNECTED"

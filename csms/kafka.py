"""Thin factories over aiokafka so every service talks to Kafka the same way, plus `apply_topics`.

Every producer is idempotent with acks=all; every send has a timeout (DESIGN.md decision 4).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from csms.settings import KafkaSettings
from schemas.topics import TopicCatalog, TopicSpec


class TopicPlanError(RuntimeError):
    """topics.yaml asks for something the cluster cannot do safely (e.g. fewer partitions)."""


def _common(settings: KafkaSettings) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap,
        "request_timeout_ms": settings.request_timeout_ms,
        "security_protocol": settings.security_protocol,
    }
    if settings.sasl_mechanism:
        opts.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.sasl_username,
            sasl_plain_password=settings.sasl_password,
        )
    return opts


def make_producer(settings: KafkaSettings, *, transactional_id: str | None = None, **extra: Any) -> AIOKafkaProducer:
    """An idempotent, acks=all producer (transactional when `transactional_id` is given)."""
    opts = _common(settings) | {
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 2,
        "max_batch_size": 256 * 1024,
        "compression_type": None if settings.compression == "none" else settings.compression,
    }
    if transactional_id:
        opts["transactional_id"] = transactional_id
    opts.update(extra)
    return AIOKafkaProducer(**opts)


def make_consumer(settings: KafkaSettings, *topics: str, group_id: str | None, **extra: Any) -> AIOKafkaConsumer:
    """A manual-commit, read_committed consumer."""
    opts = _common(settings) | {
        "group_id": group_id,
        "enable_auto_commit": False,
        "isolation_level": "read_committed",
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "fetch_max_wait_ms": 100,
    }
    opts.update(extra)
    return AIOKafkaConsumer(*topics, **opts)


def make_admin(settings: KafkaSettings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**_common(settings))


@dataclass(frozen=True)
class TopicChange:
    """One action `apply_topics` took or would take."""

    topic: str
    action: str  # created | partitions | config | unchanged
    detail: str = ""


async def apply_topics(
    settings: KafkaSettings,
    catalog: TopicCatalog,
    *,
    only: Iterable[str] | None = None,
    max_partitions: int | None = None,
    replication_factor: int = 1,
) -> list[TopicChange]:
    """Create missing topics, raise partition counts, align configs. Refuses to shrink partitions.

    `max_partitions` caps counts for small local brokers (tests, demos); production applies the file as is.
    """
    wanted = [s for s in catalog.specs if only is None or s.name in set(only)]
    admin = make_admin(settings)
    await admin.start()
    try:
        existing = await _partition_counts(admin, [catalog.prefix + s.name for s in wanted])
        changes: list[TopicChange] = []
        for spec in wanted:
            changes.append(
                await _apply_one(admin, spec, catalog.prefix + spec.name, existing, max_partitions, replication_factor)
            )
        return changes
    finally:
        await admin.close()


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    listed = set(await admin.list_topics())
    present = [n for n in names if n in listed]
    if not present:
        return {}
    described = await admin.describe_topics(present)
    return {d["topic"]: len(d["partitions"]) for d in described if not d.get("error_code")}


async def _apply_one(
    admin: AIOKafkaAdminClient,
    spec: TopicSpec,
    name: str,
    existing: dict[str, int],
    max_partitions: int | None,
    replication_factor: int,
) -> TopicChange:
    partitions = min(spec.partitions, max_partitions) if max_partitions else spec.partitions
    config = spec.kafka_config()
    if name not in existing:
        await admin.create_topics([NewTopic(name, partitions, replication_factor, topic_configs=config)])
        return TopicChange(name, "created", f"{partitions} partitions")
    current = existing[name]
    if partitions < current and not max_partitions:
        raise TopicPlanError(
            f"{name}: topics.yaml asks for {partitions} partitions but the topic has {current}; "
            "Kafka cannot shrink a topic (see docs/operations.md)"
        )
    if partitions > current:
        await admin.create_partitions({name: NewPartitions(partitions)})
        return TopicChange(name, "partitions", f"{current} -> {partitions}")
    resource = ConfigResource(ConfigResourceType.TOPIC, name, configs=config)
    described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    live = {entry[0]: entry[1] for entry in described[0].resources[0][4]}
    drift = {k: v for k, v in config.items() if live.get(k) != v}
    if drift:
        await admin.alter_configs([resource])
        return TopicChange(name, "config", ", ".join(f"{k}={v}" for k, v in sorted(drift.items())))
    return TopicChange(name, "unchanged")


async def send_with_timeout(producer: AIOKafkaProducer, timeout: float, *args: Any, **kwargs: Any) -> Any:
    """`send_and_wait` bounded by `timeout` seconds (raises TimeoutError)."""
    return await asyncio.wait_for(producer.send_and_wait(*args, **kwargs), timeout)

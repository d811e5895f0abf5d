"""Composition root shared by the processors: settings, engine, consumer, relay, health server, signals."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from csms.entry import run_until_signalled
from csms.http import HealthServer
from csms.kafka import make_producer
from csms.logs import get_logger
from csms.settings import ServiceSettings
from processors.runtime import migrate, store
from processors.runtime.metrics import RuntimeMetrics
from processors.runtime.relay import OutboxRelay
from processors.runtime.runner import Consumer
from processors.runtime.spec import ProcessorSpec
from schemas import AvroCodec, TopicCatalog, load_topics

log = get_logger(__name__)


class ProcessorSettings(ServiceSettings):
    """Settings every processor has. Subclasses set `env_prefix` (e.g. CSMS_BILLING_) and the default port."""

    database_url: str = Field(description="PostgreSQL URL of this processor's own database (required)")
    http_port: int = Field(default=0, ge=0, le=65535)
    max_batch: int = Field(default=2000, ge=1, le=50_000)
    migrate_on_start: bool = True
    dedupe_retention_days: int = Field(default=35, ge=1)
    pool_size: int = Field(default=5, ge=1)


@dataclass
class Running:
    """Handles on a started processor (tests use them)."""

    consumer: Consumer
    relay: OutboxRelay
    http: HealthServer
    engine: AsyncEngine
    metrics: RuntimeMetrics


def make_engine(settings: ProcessorSettings) -> AsyncEngine:
    return create_async_engine(
        migrate.async_url(settings.database_url), pool_size=settings.pool_size, max_overflow=2,
        pool_pre_ping=True,
    )


async def serve(
    spec: ProcessorSpec,
    settings: ProcessorSettings,
    stop: asyncio.Event,
    *,
    on_started: Callable[[Running], None] | None = None,
    topics: TopicCatalog | None = None,
    codec: AvroCodec | None = None,
) -> None:
    """Run the processor until `stop` is set, or until a component fails (which is raised)."""
    if settings.migrate_on_start and spec.migrations is not None:
        await asyncio.to_thread(migrate.upgrade, settings.database_url, spec.migrations)
    engine = make_engine(settings)
    topics = (topics or load_topics()).with_prefix(settings.kafka.topic_prefix)
    codec = codec or AvroCodec()
    metrics = RuntimeMetrics(spec.name)
    wakeup = asyncio.Event()
    consumer = Consumer(spec, engine=engine, kafka=settings.kafka, topics=topics, codec=codec, metrics=metrics,
                        max_batch=settings.max_batch, outbox_wakeup=wakeup)
    producer = make_producer(settings.kafka, client_id=f"{spec.group_id}-relay")
    relay = OutboxRelay(spec.name, engine, producer, metrics, wakeup, send_timeout=settings.kafka.send_timeout_s * 6)
    http = HealthServer(settings.http_host, settings.http_port, metrics.registry, ready=lambda: consumer.assigned)
    try:  # a port in use or no broker: what was opened is closed again (an unclosed producer warns when collected)
        await http.start()
        await producer.start()
    except BaseException:
        await producer.stop()
        await http.stop()
        await engine.dispose()
        raise
    if on_started:
        on_started(Running(consumer, relay, http, engine, metrics))
    log.info("processor started", processor=spec.name, http_port=http.port, topics=consumer.physical_topics)
    tasks = [
        asyncio.create_task(consumer.run(stop), name=f"{spec.name}-consumer"),
        asyncio.create_task(relay.run(stop), name=f"{spec.name}-relay"),
        asyncio.create_task(_prune(engine, settings.dedupe_retention_days, stop), name=f"{spec.name}-prune"),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await producer.stop()
        await http.stop()
        await engine.dispose()
        log.info("processor stopped", processor=spec.name)


async def _prune(engine: AsyncEngine, days: int, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(Exception):
            async with engine.begin() as conn:
                removed = await store.prune_processed(conn, days)
            if removed:
                log.info("pruned dedupe records", removed=removed)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 3600)


def run_forever(spec: ProcessorSpec, settings: ProcessorSettings) -> None:
    """Entry point body of a processor's `__main__`: run until SIGTERM/SIGINT."""
    run_until_signalled(lambda stop: serve(spec, settings, stop))

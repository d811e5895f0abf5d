"""Monitoring = the runtime's consumer and relay (`serve`) plus three periodic tasks sharing its stop event:

- the alert evaluator (evaluator.py), every `evaluate_every_s`;
- the webhook sender (webhooks.py);
- partition maintenance (partitions.py): creates time partitions ahead, drops those past retention;
- the roll-up folder (_timeseries.fold_rollups), every `rollup_every_s` and once more on stop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.logs import get_logger
from processors.monitoring import _timeseries, bootstrap, partitions
from processors.monitoring.evaluator import Evaluator
from processors.monitoring.settings import MonitoringSettings
from processors.monitoring.webhooks import WebhookPolicy, WebhookSender
from processors.runtime import Running, is_transient, serve
from processors.runtime.service import make_engine
from schemas import AvroCodec, TopicCatalog, load_topics

log = get_logger(__name__)


async def maintain_partitions(engine: AsyncEngine, settings: MonitoringSettings, stop: asyncio.Event) -> None:
    """Create and drop time partitions now and then every `maintenance_every_s`."""
    while not stop.is_set():
        try:
            async with engine.begin() as conn:
                changes = await partitions.maintain(
                    conn, datetime.now(UTC).date(), ahead_days=settings.partitions_ahead_days,
                    raw_retention_days=settings.raw_retention_days,
                    rollup_1m_retention_days=settings.rollup_1m_retention_days)
            if changes["created"] or changes["dropped"]:
                log.info("partitions maintained", **changes)
        except Exception as exc:
            if not is_transient(exc):
                log.exception("partition maintenance failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.maintenance_every_s)


async def fold_rollups(engine: AsyncEngine, settings: MonitoringSettings, stop: asyncio.Event) -> None:
    """Fold stored batches into the roll-ups every `rollup_every_s`, and what is left when stopping."""
    while True:
        stopping = stop.is_set()
        try:
            while True:
                async with engine.begin() as conn:
                    batches, _ = await _timeseries.fold_rollups(conn, max_batches=settings.rollup_fold_batches)
                if batches < settings.rollup_fold_batches:
                    break
        except Exception as exc:
            if not is_transient(exc):
                log.exception("roll-up fold failed")
        if stopping:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.rollup_every_s)


async def run(settings: MonitoringSettings, stop: asyncio.Event, *, topics: TopicCatalog | None = None,
              on_started: Callable[[Running], None] | None = None) -> None:
    """Run the processor and its periodic tasks until `stop` is set (or one of them fails)."""
    catalog = (topics or load_topics()).with_prefix(settings.kafka.topic_prefix)
    codec = AvroCodec()
    started = asyncio.Event()

    def _started(running: Running) -> None:
        started.set()
        if on_started:
            on_started(running)

    serving = asyncio.create_task(serve(bootstrap.spec(settings), settings, stop, on_started=_started,
                                        topics=topics, codec=codec), name="monitoring-serve")
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait([serving, waiter], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if serving.done():
        await serving  # raises what stopped it before start
        return
    engine = make_engine(settings.model_copy(update={"pool_size": 2}))
    key = settings.webhook_signing_key
    policy = WebhookPolicy(key.get_secret_value().encode() if key else None, settings.webhook_max_attempts,
                           settings.webhook_backoff_s, settings.webhook_backoff_max_s, settings.webhook_timeout_s)
    async with httpx.AsyncClient(follow_redirects=False) as client:
        tasks = [
            asyncio.create_task(Evaluator(engine, codec, catalog, every_s=settings.evaluate_every_s).run(stop)),
            asyncio.create_task(WebhookSender(engine, client, policy).run(stop)),
            asyncio.create_task(maintain_partitions(engine, settings, stop)),
            asyncio.create_task(fold_rollups(engine, settings, stop)),
        ]
        try:
            done, _ = await asyncio.wait([serving, *tasks], return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.gather(serving, return_exceptions=True)
            await engine.dispose()

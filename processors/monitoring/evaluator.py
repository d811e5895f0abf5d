"""The time-driven alert evaluator: every `evaluate_every_s`, each live rule's condition is checked in the store.

Missed heartbeats and offline stations are found by the clock, not by a later event: an alert opens at most one
period after its threshold passes. Each tick is one transaction holding an advisory lock (one evaluator per store
even with several replicas); alert rows, their `monitoring.alerts` events (runtime outbox) and webhook deliveries
commit together.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from csms.logs import get_logger
from processors.monitoring import _alerts, _conditions
from processors.monitoring.domain import plan_alerts
from processors.runtime import UnitOfWork, is_transient
from processors.runtime import store as runtime_store
from processors.runtime.uow import BatchUnitOfWork
from schemas import AvroCodec, TopicCatalog

log = get_logger(__name__)
_LOCK = zlib.crc32(b"csms-monitoring-evaluator")
Clock = Callable[[], datetime]


async def evaluate(conn: AsyncConnection, uow: UnitOfWork, now: datetime) -> int:
    """Open and resolve alerts of every live rule against the store at `now`; returns the transitions made."""
    transitions = 0
    for rule, subject in await _alerts.orphaned_alerts(conn):
        await _alerts.resolve_alert(conn, uow, rule, subject, now, "rule disabled or deleted")
        transitions += 1
    for rule in await _alerts.live_rules(conn):
        found = await _conditions.violations(conn, rule, now)
        active = await _alerts.active_subjects(conn, rule.rule_id)
        resolved = await _alerts.last_resolved(conn, rule.rule_id, set(found) - active)
        plan = plan_alerts(set(found), active, resolved, now, rule.cooldown_s)
        for subject in plan.open:
            violation = found[subject]
            if await _alerts.open_alert(conn, uow, rule, subject, violation.station_id, violation.message, now):
                transitions += 1
        for subject in plan.resolve:
            await _alerts.resolve_alert(conn, uow, rule, subject, now, "condition cleared")
            transitions += 1
    return transitions


class Evaluator:
    """Runs `evaluate` periodically in its own transaction, writing emitted events to the runtime outbox."""

    def __init__(self, engine: AsyncEngine, codec: AvroCodec, topics: TopicCatalog, *, every_s: float = 1.0,
                 clock: Clock = lambda: datetime.now(UTC)) -> None:
        self.engine, self.codec, self.topics = engine, codec, topics
        self.every_s, self.clock = every_s, clock
        self.ticks = 0

    async def tick(self) -> int:
        """One evaluation; 0 when another replica holds the evaluator lock."""
        async with self.engine.begin() as conn:
            locked = (await conn.execute(sa.text("select pg_try_advisory_xact_lock(:k)"), {"k": _LOCK})).scalar()
            if not locked:
                return 0
            uow = BatchUnitOfWork(conn, self.codec, self.topics)
            transitions = await evaluate(conn, uow, self.clock())
            await runtime_store.add_outbox(conn, uow.take())
        self.ticks += 1
        return transitions

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set; a failed tick is logged and retried on the next period."""
        while not stop.is_set():
            try:
                transitions = await self.tick()
                if transitions:
                    log.info("alert transitions", count=transitions)
            except Exception as exc:
                if is_transient(exc):
                    log.warning("evaluator: store unavailable", error=str(exc))
                else:
                    log.exception("evaluator tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every_s)

"""Outgoing webhooks for integrators: subscriptions to event kinds, signed deliveries, retries, a delivery log.

Each live event that matches an active subscription becomes one delivery row (unique per subscription and event,
so several API instances never deliver an event twice). A worker posts due deliveries (claimed with
`for update skip locked`), signed `Csms-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, and
retries failures with exponential back-off until `webhook_max_attempts`, then marks them FAILED.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.logs import get_logger
from read_api import store
from read_api.live import LiveEvent, LiveHub
from read_api.responses import dumps
from read_api.settings import ApiSettings

log = get_logger(__name__)
SIGNATURE_HEADER = "Csms-Signature"


def sign(secret: str, body: bytes, at: int | None = None) -> str:
    """The signature header value of a delivery body."""
    t = str(at if at is not None else int(time.time()))
    digest = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def backoff(settings: ApiSettings, attempts: int) -> timedelta:
    return timedelta(seconds=min(settings.webhook_backoff_s * 2 ** max(attempts - 1, 0), 3600))


class WebhookDispatcher:
    """Turns live events into deliveries and delivers them."""

    def __init__(self, settings: ApiSettings, engine: AsyncEngine, hub: LiveHub,
                 client: httpx.AsyncClient | None = None) -> None:
        self.settings, self.engine, self.hub = settings, engine, hub
        self.client = client or httpx.AsyncClient(timeout=settings.webhook_timeout_s)
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._enqueue_loop(), name="webhooks-enqueue"),
                       asyncio.create_task(self._deliver_loop(), name="webhooks-deliver")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.aclose()

    async def _enqueue_loop(self) -> None:
        with self.hub.subscribe() as sub:
            while True:
                event = await sub.queue.get()
                try:
                    if await self.enqueue(event):
                        self._wake.set()
                except Exception:
                    log.exception("could not record webhook deliveries of %s", event.event_id)

    async def enqueue(self, event: LiveEvent) -> int:
        """One PENDING delivery per active subscription to the event's kind (or "*"); returns how many."""
        s, d = store.webhook_subscriptions, store.webhook_deliveries
        body = dumps({"event_id": event.event_id, "kind": event.kind, "schema": event.schema, "data": event.data})
        async with self.engine.begin() as conn:
            subs = (await conn.execute(sa.select(s.c.subscription_id).where(
                s.c.active, sa.or_(sa.literal(event.kind) == sa.any_(s.c.event_types),
                                   sa.literal("*") == sa.any_(s.c.event_types))))).scalars().all()
            if not subs:
                return 0
            await conn.execute(insert(d).values([
                {"subscription_id": sid, "event_id": event.event_id, "event_type": event.kind, "body": body,
                 "status": "PENDING"} for sid in subs]).on_conflict_do_nothing())
        return len(subs)

    async def _deliver_loop(self) -> None:
        while True:
            try:
                delivered = await self.deliver_due()
            except Exception:
                log.exception("webhook delivery round failed")
                delivered = 0
            if not delivered:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 1.0)

    async def deliver_due(self, batch: int = 20) -> int:
        """Attempt every due delivery (up to `batch`); returns how many were attempted."""
        s, d = store.webhook_subscriptions, store.webhook_deliveries
        async with self.engine.begin() as conn:
            rows = (await conn.execute(
                sa.select(d.c.delivery_id, d.c.body, d.c.attempts, d.c.event_type, s.c.url, s.c.secret)
                .join(s, s.c.subscription_id == d.c.subscription_id)
                .where(d.c.status == "PENDING", d.c.next_attempt_at <= sa.func.now())
                .order_by(d.c.next_attempt_at).limit(batch).with_for_update(of=d, skip_locked=True))).all()
            results = await asyncio.gather(*(self._post(r) for r in rows))
            for row, (code, error) in zip(rows, results, strict=True):
                await conn.execute(sa.update(d).where(d.c.delivery_id == row.delivery_id).values(
                    **self._next_state(row.attempts + 1, code, error)))
        return len(rows)

    async def _post(self, row: Any) -> tuple[int | None, str | None]:
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(row.secret, row.body),
                   "Csms-Event-Type": row.event_type, "Csms-Delivery": str(row.delivery_id)}
        try:
            response = await self.client.post(row.url, content=row.body, headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        return response.status_code, None if response.is_success else f"HTTP {response.status_code}"

    def _next_state(self, attempts: int, code: int | None, error: str | None) -> dict[str, Any]:
        now = datetime.now(UTC)
        state: dict[str, Any] = {"attempts": attempts, "last_status_code": code, "last_error": error}
        if error is None:
            return state | {"status": "DELIVERED", "delivered_at": now}
        if attempts >= self.settings.webhook_max_attempts:
            return state | {"status": "FAILED"}
        return state | {"next_attempt_at": now + backoff(self.settings, attempts)}

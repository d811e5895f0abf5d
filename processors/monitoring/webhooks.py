"""Webhook delivery of alert transitions, outbox-style: rows of `webhook_deliveries` are sent by this task.

Each POST carries the transition as JSON and `X-CSMS-Signature: sha256=<HMAC-SHA256(body, rule secret)>`. The
rule secret is derived from the processor's signing key (`rule_secret`), so the store holds no secret at all;
rotating a rule's secret bumps its `secret_version`. Failed attempts (network error, 408, 429, 5xx) are retried
with exponential back-off up to `max_attempts`; other 4xx answers fail at once. Every attempt is logged in the row.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.logs import get_logger
from processors.monitoring.store import webhook_deliveries
from processors.runtime import is_transient

log = get_logger(__name__)
SIGNATURE_HEADER = "X-CSMS-Signature"


def rule_secret(signing_key: bytes, rule_id: str, version: int) -> str:
    """The webhook secret of a rule (hex), derived from the processor's signing key; shown to its operator."""
    return hmac.new(signing_key, f"csms-webhook:{rule_id}:{version}".encode(), hashlib.sha256).hexdigest()


def signature(secret: str, body: bytes) -> str:
    """The signature header value of a body: `sha256=<hex HMAC-SHA256>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff(attempts: int, base_s: float, cap_s: float) -> float:
    """Delay before the next attempt after `attempts` failed ones (1, 2, 4, ... times base, capped)."""
    return float(min(cap_s, base_s * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class WebhookPolicy:
    signing_key: bytes | None
    max_attempts: int = 8
    backoff_s: float = 1.0
    backoff_max_s: float = 300.0
    timeout_s: float = 5.0


class WebhookSender:
    """Sends due deliveries; several replicas share the table through `for update skip locked`."""

    def __init__(self, engine: AsyncEngine, client: httpx.AsyncClient, policy: WebhookPolicy, *,
                 poll_s: float = 0.5, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine, self.client, self.policy = engine, client, policy
        self.poll_s, self.clock = poll_s, clock

    async def send_due(self, limit: int = 20) -> int:
        """Attempt every due delivery (up to `limit`); returns the number attempted."""
        async with self.engine.begin() as conn:
            rows = (await conn.execute(
                sa.select(webhook_deliveries).where(webhook_deliveries.c.status == "PENDING",
                                                    webhook_deliveries.c.next_attempt_at <= self.clock())
                .order_by(webhook_deliveries.c.next_attempt_at).limit(limit).with_for_update(skip_locked=True))).all()
            outcomes = await asyncio.gather(*(self._attempt(r) for r in rows))
            for row, values in zip(rows, outcomes, strict=True):
                await conn.execute(sa.update(webhook_deliveries).where(webhook_deliveries.c.id == row.id)
                                   .values(**values))
        return len(rows)

    async def _attempt(self, row: Any) -> dict[str, Any]:
        now, attempts = self.clock(), row.attempts + 1
        if self.policy.signing_key is None:
            return {"status": "FAILED", "attempts": attempts, "last_error": "no webhook signing key configured"}
        secret = rule_secret(self.policy.signing_key, row.rule_id, row.secret_version)
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature(secret, row.body),
                   "X-CSMS-Delivery": str(row.id), "X-CSMS-Event": row.transition}
        status: int | None = None
        try:
            response = await self.client.post(row.url, content=row.body, headers=headers,
                                              timeout=self.policy.timeout_s)
            status = response.status_code
            if 200 <= status < 300:
                return {"status": "DELIVERED", "attempts": attempts, "last_status": status, "last_error": None,
                        "delivered_at": now}
            error, retry = f"HTTP {status}", status in (408, 429) or status >= 500
        except httpx.HTTPError as exc:
            error, retry = f"{type(exc).__name__}: {exc}"[:500], True
        if not retry or attempts >= self.policy.max_attempts:
            return {"status": "FAILED", "attempts": attempts, "last_status": status, "last_error": error}
        delay = backoff(attempts, self.policy.backoff_s, self.policy.backoff_max_s)
        return {"attempts": attempts, "last_status": status, "last_error": error,
                "next_attempt_at": now + timedelta(seconds=delay)}

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set."""
        while not stop.is_set():
            sent = 0
            try:
                sent = await self.send_due()
            except Exception as exc:
                if is_transient(exc):
                    log.warning("webhooks: store unavailable", error=str(exc))
                else:
                    log.exception("webhook delivery round failed")
            if not sent:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_s)

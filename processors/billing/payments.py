"""Card payments: a provider port, a complete local provider, and idempotent, signed webhooks.

A real provider cannot be reached from here; `LocalProvider` behaves like one (payment intents, HMAC-signed
webhooks with a timestamp against replays) and is what tests and the demo use. The read API calls
`Webhooks.verify_and_apply_webhook(headers, body)`: it checks the signature, records the webhook id (a
redelivery is answered DUPLICATE and changes nothing), and applies the payment in one transaction with its
events (written to the runtime outbox).

Header: ``Csms-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from processors.billing import invoicing, store
from processors.billing.outbound import EVENTS, NS
from processors.runtime import Command, CommandRejected, UnitOfWork
from processors.runtime.store import add_outbox
from processors.runtime.uow import BatchUnitOfWork
from schemas import AvroCodec, TopicCatalog

SIGNATURE_HEADER = "csms-signature"


class InvalidSignature(Exception):
    """A webhook whose signature, timestamp or body does not check out."""


@dataclass(frozen=True)
class PaymentIntent:
    payment_id: str
    amount: Decimal
    currency: str
    checkout_url: str


@dataclass(frozen=True)
class WebhookEvent:
    webhook_id: str
    type: str  # payment.captured
    payment_id: str
    amount: Decimal
    currency: str


class PaymentProvider(Protocol):
    """What billing needs from a card payment provider."""

    name: str

    def create_payment(self, payment_id: str, amount: Decimal, currency: str) -> PaymentIntent: ...

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent: ...


class LocalProvider:
    """A complete in-process provider: intents, and webhooks signed like a real provider's."""

    name = "local"

    def __init__(self, secret: bytes, *, tolerance_s: int = 300) -> None:
        self._secret, self._tolerance = secret, tolerance_s

    def create_payment(self, payment_id: str, amount: Decimal, currency: str) -> PaymentIntent:
        """A payment intent; the "card holder" pays it by calling `capture_webhook`."""
        return PaymentIntent(payment_id, amount, currency, f"local://checkout/{payment_id}")

    def sign(self, body: bytes, at: int | None = None) -> dict[str, str]:
        """The headers a webhook with `body` carries."""
        stamp = str(at if at is not None else int(time.time()))
        mac = hmac.new(self._secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return {SIGNATURE_HEADER: f"t={stamp},v1={mac}"}

    def capture_webhook(self, intent: PaymentIntent) -> tuple[dict[str, str], bytes]:
        """What the provider sends when the card payment of `intent` is captured."""
        body = orjson.dumps({"id": f"evt_{uuid.uuid4().hex}", "type": "payment.captured",
                             "payment_id": intent.payment_id, "amount": str(intent.amount),
                             "currency": intent.currency})
        return self.sign(body), body

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Check the signature (constant time) and the timestamp, then parse the body."""
        raw = {k.lower(): v for k, v in headers.items()}.get(SIGNATURE_HEADER, "")
        parts = dict(p.split("=", 1) for p in raw.split(",") if "=" in p)
        if "t" not in parts or "v1" not in parts or not parts["t"].isdigit():
            raise InvalidSignature("missing or malformed signature header")
        expected = hmac.new(self._secret, parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, parts["v1"]):
            raise InvalidSignature("signature mismatch")
        if abs(time.time() - int(parts["t"])) > self._tolerance:
            raise InvalidSignature("timestamp outside the tolerance")
        try:
            data = orjson.loads(body)
            return WebhookEvent(str(data["id"]), str(data["type"]), str(data["payment_id"]),
                                Decimal(str(data["amount"])), str(data["currency"]))
        except (orjson.JSONDecodeError, KeyError, ArithmeticError) as exc:
            raise InvalidSignature(f"malformed body: {exc}") from None


@dataclass(frozen=True)
class WebhookOutcome:
    status: str  # APPLIED, DUPLICATE, REJECTED, IGNORED
    reason: str | None = None


class Webhooks:
    """Applies provider webhooks to the billing store (used by the read API)."""

    def __init__(self, engine: AsyncEngine, provider: PaymentProvider, codec: AvroCodec, topics: TopicCatalog) -> None:
        self.engine, self.provider, self.codec, self.topics = engine, provider, codec, topics

    async def verify_and_apply_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookOutcome:
        """Verify and apply one webhook, exactly once."""
        try:
            hook = self.provider.verify_webhook(headers, body)
        except InvalidSignature as exc:
            return WebhookOutcome("REJECTED", str(exc))
        async with self.engine.begin() as conn:
            seen = await conn.execute(insert(store.webhooks).values(
                webhook_id=hook.webhook_id, provider=self.provider.name, outcome="APPLIED").on_conflict_do_nothing())
            if seen.rowcount == 0:
                return WebhookOutcome("DUPLICATE")
            uow = BatchUnitOfWork(conn, self.codec, self.topics)
            outcome = await _apply(uow, self.provider.name, hook)
            if outcome.status != "APPLIED":
                await conn.execute(sa.update(store.webhooks).where(store.webhooks.c.webhook_id == hook.webhook_id)
                                   .values(outcome=outcome.status))
            await add_outbox(conn, uow.take())
        return outcome


async def _apply(uow: UnitOfWork, provider: str, hook: WebhookEvent) -> WebhookOutcome:
    if hook.type != "payment.captured":
        return WebhookOutcome("IGNORED", f"event type {hook.type}")
    p = store.payments
    row = (await uow.conn.execute(sa.select(p).where(p.c.payment_id == hook.payment_id).with_for_update())).first()
    if row is None or row.status != "PENDING" or (row.amount, row.currency) != (hook.amount, hook.currency):
        return WebhookOutcome("REJECTED", f"no pending payment {hook.payment_id} of {hook.amount} {hook.currency}")
    await uow.conn.execute(sa.update(p).where(p.c.payment_id == hook.payment_id)
                           .values(status="CAPTURED", updated_at=sa.func.now()))
    txn = str(uuid.uuid4())
    await uow.conn.execute(sa.insert(store.ledger), [
        {"txn_id": txn, "account": f"cash:{provider}", "amount": hook.amount, "currency": hook.currency,
         "kind": "CARD_PAYMENT", "reference": row.invoice_id},
        {"txn_id": txn, "account": "receivable:invoices", "amount": -hook.amount, "currency": hook.currency,
         "kind": "CARD_PAYMENT", "reference": row.invoice_id}])
    if row.invoice_id:
        await invoicing.set_status(uow, row.invoice_id, "PAID")
    uow.emit(EVENTS, row.invoice_id or hook.payment_id, NS + "PaymentCaptured", {
        "payment_id": hook.payment_id, "provider": provider, "invoice_id": row.invoice_id, "driver_id": row.driver_id,
        "amount": str(hook.amount), "currency": hook.currency, "captured_at": datetime.now(UTC)})
    return WebhookOutcome("APPLIED")


def pay_invoice(provider: PaymentProvider) -> Any:
    """PayInvoice {invoice_id} -> CREATED {payment_id, checkout_url, amount, currency} (a card payment intent)."""

    async def handle(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
        i = store.invoices
        row = (await uow.conn.execute(sa.select(i).where(i.c.invoice_id == command.payload.get("invoice_id")))).first()
        if row is None:
            raise CommandRejected("NOT_FOUND", "no such invoice")
        if row.status != "PENDING" or row.kind == "CREDIT_NOTE":
            raise CommandRejected("CONFLICT", f"invoice is {row.status}")
        intent = provider.create_payment(str(uuid.uuid4()), row.total_incl_vat, row.currency)
        await uow.conn.execute(sa.insert(store.payments).values(
            payment_id=intent.payment_id, provider=provider.name, invoice_id=row.invoice_id, driver_id=row.driver_id,
            amount=intent.amount, currency=intent.currency, status="PENDING"))
        return "CREATED", {"payment_id": intent.payment_id, "checkout_url": intent.checkout_url,
                           "amount": str(intent.amount), "currency": intent.currency}

    return handle

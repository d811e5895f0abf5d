"""The billing processor's composition root: `spec(settings)` for the runtime, `run(...)` for the process."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
from collections.abc import Callable, Iterator
from pathlib import Path

from processors.billing import handlers, housekeeping, invoicing, tariffs, terms, wallets
from processors.billing.charging import BillingDeps
from processors.billing.payments import LocalProvider, PaymentProvider, pay_invoice
from processors.billing.session_store import SessionCache
from processors.billing.settings import BillingSettings
from processors.runtime import ProcessorSpec, Running, command_handler, serve, skip_ocpp
from processors.runtime.service import make_engine
from schemas import AvroCodec, TopicCatalog, load_topics

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
TOPICS = ["ocpp.messages", "billing.commands", "auth.tokens", "stations.registry"]


def provider_for(settings: BillingSettings) -> PaymentProvider:
    """The payment provider: the local one (no real provider is reachable from this deployment)."""
    secret = settings.payment_webhook_secret
    return LocalProvider(secret.get_secret_value().encode() if secret else b"")


def spec(settings: BillingSettings, deps: BillingDeps | None = None) -> ProcessorSpec:
    """The processor's topics and handler tables, bound to one process's dependencies."""
    deps = deps or BillingDeps(settings, SessionCache(settings.session_cache_size))
    commands = command_handler("billing", {
        "CreateTariff": tariffs.create_tariff,
        "UpdateTariff": tariffs.update_tariff,
        "DeleteTariff": tariffs.delete_tariff,
        "AssignTariff": tariffs.assign_tariff,
        "UnassignTariff": tariffs.unassign_tariff,
        "GenerateMonthlyInvoices": invoicing.generate_monthly_invoices,
        "IssueCreditNote": invoicing.issue_credit_note,
        "PayInvoice": pay_invoice(provider_for(settings)),
        "TopUpWallet": wallets.top_up_wallet,
        "RefundWallet": wallets.refund_wallet,
        "SetTokenBudget": housekeeping.set_token_budget,
    })
    return ProcessorSpec(
        name="billing",
        topics=TOPICS,
        handlers={
            "csms.common.Command": [commands],
            "csms.authorization.TokenState": [handlers.remember_token, terms.remember_token_terms],
            "csms.stations.StationRegistryEntry": [handlers.remember_station, terms.remember_connector_types],
        },
        batch_handlers={"csms.ocpp.OcppMessage": functools.partial(handlers.apply_ocpp_messages, deps)},
        migrations=MIGRATIONS,
        # only the edge's answers to transaction messages are applied: the rest of ocpp.messages (charger CALLs,
        # Heartbeats, StatusNotifications...) is skipped on its headers, without being decoded
        skip=skip_ocpp(["CALLRESULT"], handlers.TRANSACTION_ACTIONS),
    )


@contextlib.contextmanager
def gc_threshold(gen0: int) -> Iterator[None]:
    """Collect the young generation every `gen0` allocations while the processor runs (0: leave it alone).
    A batch allocates tens of thousands of short-lived objects; with Python's default (700) the collector runs
    hundreds of times per batch and promotes the batch's live objects to older generations."""
    before = gc.get_threshold()
    if gen0:
        gc.set_threshold(gen0, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


async def run(
    settings: BillingSettings, stop: asyncio.Event, *, on_started: Callable[[Running], None] | None = None,
    topics: TopicCatalog | None = None, codec: AvroCodec | None = None,
) -> None:
    """The consumer (runtime `serve`) and the housekeeping task, until `stop` is set or one fails."""
    deps = BillingDeps(settings, SessionCache(settings.session_cache_size))
    codec = codec or AvroCodec()
    catalog = topics or load_topics()
    engine = make_engine(settings)
    chores = asyncio.create_task(housekeeping.run_housekeeping(
        deps, engine, codec, catalog.with_prefix(settings.kafka.topic_prefix), stop), name="billing-housekeeping")
    try:
        with gc_threshold(settings.gc_gen0_threshold):
            await serve(spec(settings, deps), settings, stop, on_started=on_started, topics=catalog, codec=codec)
    finally:
        stop.set()
        await chores
        await engine.dispose()

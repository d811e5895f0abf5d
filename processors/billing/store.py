"""The billing store (database csms_billing): SQLAlchemy Core tables, one MetaData.

Sessions are stored as their inputs (one row per input `event_id`, never updated: the raw OCPP request and
answer, re-translated on restore) plus one row of derived state per session for queries. Money columns are
`numeric` (Decimal in Python); no float anywhere.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = sa.MetaData()
TS = sa.DateTime(timezone=True)


def _now() -> sa.Column[object]:
    return sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now())


session_inputs = sa.Table(
    "billing_session_inputs", metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("session_id", sa.Text, nullable=False, index=True),
    sa.Column("station_id", sa.Text, nullable=False),
    sa.Column("ocpp_version", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),  # StartTransaction ... TransactionEvent, or StaleClosed
    sa.Column("request", sa.Text, nullable=False),  # JSON text as the edge published it
    sa.Column("answer", sa.Text, nullable=True),
    sa.Column("received_at", TS, nullable=False),
    sa.Column("driver_id", sa.Text, nullable=True),
)

sessions = sa.Table(
    "billing_sessions", metadata,
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("station_id", sa.Text, nullable=False),
    sa.Column("transaction_id", sa.Text, nullable=False),
    sa.Column("ocpp_version", sa.Text, nullable=False),
    sa.Column("operator_id", sa.Text, nullable=False),
    sa.Column("evse_id", sa.Integer), sa.Column("connector_id", sa.Integer),
    sa.Column("id_token", sa.Text), sa.Column("driver_id", sa.Text),
    sa.Column("status", sa.Text, nullable=False), sa.Column("ended", sa.Boolean, nullable=False),
    sa.Column("started_at", TS), sa.Column("start_received_at", TS),
    sa.Column("stopped_at", TS), sa.Column("stop_received_at", TS),
    sa.Column("meter_start_wh", sa.Numeric), sa.Column("meter_stop_wh", sa.Numeric),
    sa.Column("energy_wh", sa.Numeric, nullable=False), sa.Column("energy_source", sa.Text, nullable=False),
    sa.Column("stop_reason", sa.Text), sa.Column("idle_from", TS), sa.Column("last_meter_at", TS),
    sa.Column("last_received_at", TS),
    sa.Column("flags", ARRAY(sa.Text), nullable=False),
    sa.Column("notes", JSONB, nullable=False),
    sa.Column("external_flags", JSONB, nullable=False),
    sa.Column("tariff_id", sa.Text), sa.Column("tariff_version", sa.BigInteger),
    sa.Column("currency", sa.Text), sa.Column("cost", JSONB), sa.Column("total_incl_vat", sa.Numeric),
    sa.Column("billable", sa.Boolean, nullable=False),
    sa.Column("invoice_id", sa.Text), sa.Column("wallet_entry_id", sa.Text),
    sa.Column("running_total", sa.Numeric), sa.Column("cost_sent_at", TS), sa.Column("stop_requested_at", TS),
    sa.Column("etag", sa.Text, nullable=False),  # changes on every write: the in-memory cache checks it
    _now(),
    postgresql_with={"fillfactor": 60},  # room for heap-only (HOT) progress updates (migration 0004)
)
# no column that a progress update changes (last_received_at, energy...) may be indexed, or no update is HOT
sa.Index("billing_sessions_open", sessions.c.session_id, postgresql_where=sa.text("not ended"))
sa.Index("billing_sessions_connector", sessions.c.station_id, sessions.c.evse_id, sessions.c.started_at)
sa.Index("billing_sessions_driver", sessions.c.driver_id, sessions.c.stopped_at)

tokens = sa.Table(  # from auth.tokens (the authorization processor's compacted state)
    "billing_tokens", metadata,
    sa.Column("id_token", sa.Text, primary_key=True),
    sa.Column("driver_id", sa.Text), sa.Column("group_id", sa.Text), sa.Column("version", sa.BigInteger),
)

stations = sa.Table(  # from stations.registry
    "billing_stations", metadata,
    sa.Column("station_id", sa.Text, primary_key=True),
    sa.Column("operator_id", sa.Text), sa.Column("location_id", sa.Text), sa.Column("version", sa.BigInteger),
)

token_budgets = sa.Table(  # set by SetTokenBudget (auth.tokens carries no caps yet)
    "billing_token_budgets", metadata,
    sa.Column("id_token", sa.Text, primary_key=True),
    sa.Column("max_energy_wh", sa.Numeric), sa.Column("max_duration_s", sa.BigInteger),
    sa.Column("max_amount", sa.Numeric),
)

tariffs = sa.Table(
    "billing_tariffs", metadata,
    sa.Column("tariff_id", sa.Text, primary_key=True),
    sa.Column("deleted_at", TS),
    sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
)

tariff_versions = sa.Table(  # immutable: a change is a new version
    "billing_tariff_versions", metadata,
    sa.Column("tariff_id", sa.Text, primary_key=True), sa.Column("version", sa.BigInteger, primary_key=True),
    sa.Column("body", JSONB, nullable=False),
    sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
)

tariff_assignments = sa.Table(
    "billing_tariff_assignments", metadata,
    sa.Column("scope", sa.Text, primary_key=True), sa.Column("key", sa.Text, primary_key=True),
    sa.Column("tariff_id", sa.Text, nullable=False),
)

tariff_generation = sa.Table(  # bumped by every tariff command: processes reload their tariff cache
    "billing_tariff_generation", metadata,
    sa.Column("id", sa.Integer, primary_key=True), sa.Column("generation", sa.BigInteger, nullable=False),
)

invoice_counters = sa.Table(
    "billing_invoice_counters", metadata,
    sa.Column("operator_id", sa.Text, primary_key=True), sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("next", sa.BigInteger, nullable=False),
)

invoices = sa.Table(
    "billing_invoices", metadata,
    sa.Column("invoice_id", sa.Text, primary_key=True),
    sa.Column("number", sa.Text, nullable=False, unique=True),
    sa.Column("operator_id", sa.Text, nullable=False), sa.Column("year", sa.Integer, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),  # SESSION, MONTHLY, CREDIT_NOTE
    sa.Column("driver_id", sa.Text), sa.Column("corrects_invoice_id", sa.Text),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("total_excl_vat", sa.Numeric, nullable=False), sa.Column("vat", sa.Numeric, nullable=False),
    sa.Column("total_incl_vat", sa.Numeric, nullable=False),
    sa.Column("vat_breakdown", JSONB, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("period", sa.Text),  # YYYY-MM of a monthly invoice
    sa.Column("reason", sa.Text),
    sa.Column("issued_at", TS, nullable=False),
    _now(),
    sa.UniqueConstraint("operator_id", "year", "seq"),
)

invoice_lines = sa.Table(
    "billing_invoice_lines", metadata,
    sa.Column("invoice_id", sa.Text, primary_key=True), sa.Column("line_no", sa.Integer, primary_key=True),
    sa.Column("session_id", sa.Text),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("quantity", sa.Numeric, nullable=False), sa.Column("unit", sa.Text, nullable=False),
    sa.Column("unit_price", sa.Numeric, nullable=False), sa.Column("amount_excl_vat", sa.Numeric, nullable=False),
    sa.Column("vat_percent", sa.Numeric, nullable=False),
)

wallets = sa.Table(
    "billing_wallets", metadata,
    sa.Column("driver_id", sa.Text, primary_key=True),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("balance", sa.Numeric, nullable=False),
    _now(),
)

ledger = sa.Table(  # double entry: the entries of one txn_id sum to zero (amount > 0 = debit)
    "billing_ledger", metadata,
    sa.Column("entry_id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("txn_id", sa.Text, nullable=False, index=True),
    sa.Column("account", sa.Text, nullable=False, index=True),
    sa.Column("amount", sa.Numeric, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),  # TOP_UP, CHARGE, REFUND, CARD_PAYMENT
    sa.Column("reference", sa.Text),
    sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
)

payments = sa.Table(
    "billing_payments", metadata,
    sa.Column("payment_id", sa.Text, primary_key=True),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("invoice_id", sa.Text), sa.Column("driver_id", sa.Text),
    sa.Column("amount", sa.Numeric, nullable=False), sa.Column("currency", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # PENDING, CAPTURED, REFUNDED
    sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    _now(),
)

webhooks = sa.Table(  # processed provider webhook ids: a redelivered webhook is a no-op
    "billing_webhooks", metadata,
    sa.Column("webhook_id", sa.Text, primary_key=True),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("received_at", TS, nullable=False, server_default=sa.func.now()),
)

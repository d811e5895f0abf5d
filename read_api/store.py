"""The API's own store (database csms_api): users, refresh tokens, API keys, commands it sent, webhooks.

Tables only (SQLAlchemy Core, one MetaData); the DDL is in migrations/versions. No other domain's data lives here.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()
TS = sa.DateTime(timezone=True)

users = sa.Table(
    "api_users", metadata,
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("username", sa.Text, nullable=False, unique=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),  # admin, operator, viewer, driver
    sa.Column("driver_id", sa.Text),  # set for role driver: the driver whose data the user may see
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
)

refresh_tokens = sa.Table(
    "api_refresh_tokens", metadata,
    sa.Column("token_hash", sa.Text, primary_key=True),  # sha256 of a 256-bit random token
    sa.Column("user_id", sa.Text, sa.ForeignKey("api_users.user_id", ondelete="CASCADE"), nullable=False),
    sa.Column("expires_at", TS, nullable=False),
    sa.Column("used_at", TS),
)

api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("key_id", sa.Text, primary_key=True),
    sa.Column("secret_hash", sa.Text, nullable=False),  # sha256 of a 256-bit random secret
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("driver_id", sa.Text),
    sa.Column("created_by", sa.Text),
    sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    sa.Column("revoked_at", TS),
)

commands = sa.Table(
    "api_commands", metadata,
    sa.Column("command_id", sa.Text, primary_key=True),
    sa.Column("domain", sa.Text, nullable=False),  # stations, auth, billing, monitoring or ocpp
    sa.Column("command_type", sa.Text, nullable=False),
    sa.Column("aggregate_id", sa.Text),
    sa.Column("requested_by", sa.Text),
    sa.Column("requested_at", TS, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # PENDING until the outcome arrives
    sa.Column("result", JSONB),
    sa.Column("error", sa.Text),
    sa.Column("completed_at", TS),
)

webhook_subscriptions = sa.Table(
    "api_webhook_subscriptions", metadata,
    sa.Column("subscription_id", sa.Text, primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("event_types", sa.ARRAY(sa.Text), nullable=False),  # schema full names, or "*"
    sa.Column("secret", sa.Text, nullable=False),  # the HMAC key shared with the integrator
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_by", sa.Text),
    sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
)

webhook_deliveries = sa.Table(
    "api_webhook_deliveries", metadata,
    sa.Column("delivery_id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("subscription_id", sa.Text,
              sa.ForeignKey("api_webhook_subscriptions.subscription_id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # PENDING, DELIVERED, FAILED
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", TS, nullable=False, server_default=sa.func.now()),
    sa.Column("last_status_code", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    sa.Column("delivered_at", TS),
    sa.UniqueConstraint("subscription_id", "event_id", name="api_webhook_deliveries_once"),
)

sa.Index("api_webhook_deliveries_due", webhook_deliveries.c.next_attempt_at,
         postgresql_where=webhook_deliveries.c.status == "PENDING")

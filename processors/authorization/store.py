"""The drivers store's tables (SQLAlchemy Core, one MetaData; the DDL is in migrations/versions).

`tests/integration/authorization` checks that these tables and the migrations agree.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

metadata = sa.MetaData()
TS = sa.DateTime(timezone=True)

membership_levels = sa.Table(
    "membership_levels", metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("benefits", pg.JSONB, nullable=False, server_default="{}"),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

drivers = sa.Table(
    "drivers", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Text, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("phone", sa.Text),
    sa.Column("membership_level", sa.Text, sa.ForeignKey("membership_levels.code"), nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # ACTIVE, SUSPENDED, DELETED
    sa.Column("allowed_station_ids", pg.ARRAY(sa.Text)),  # null = every station
    sa.Column("allowed_location_ids", pg.ARRAY(sa.Text)),
    sa.Column("allowed_hours", pg.JSONB),  # [{"days": [1..7], "start": "HH:MM", "end": "HH:MM"}], null = always
    sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("deleted_at", TS),
)

id_tokens = sa.Table(
    "id_tokens", metadata,
    sa.Column("token_key", sa.Text, primary_key=True),
    sa.Column("id_token", sa.Text, nullable=False),
    sa.Column("token_type", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("expires_at", TS),
    sa.Column("group_id", sa.Text),
    sa.Column("driver_id", sa.Text, sa.ForeignKey("drivers.id")),
    sa.Column("allow_concurrent_sessions", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("cap_energy_wh_per_session", sa.BigInteger),
    sa.Column("cap_energy_wh_per_month", sa.BigInteger),
    sa.Column("cap_seconds_per_session", sa.BigInteger),
    sa.Column("cap_seconds_per_month", sa.BigInteger),
    sa.Column("cap_money_per_session", sa.Numeric(12, 2)),
    sa.Column("cap_money_per_month", sa.Numeric(12, 2)),
    sa.Column("cap_currency", sa.Text),
    sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("deleted_at", TS),
)

token_history = sa.Table(
    "token_history", metadata,
    sa.Column("token_key", sa.Text, sa.ForeignKey("id_tokens.token_key"), primary_key=True),
    sa.Column("version", sa.BigInteger, primary_key=True),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("published_status", sa.Text, nullable=False),
    sa.Column("driver_id", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("command_id", sa.Text),
    sa.Column("at", TS, nullable=False),
)

authorizations = sa.Table(
    "authorizations", metadata,
    sa.Column("source_event_id", sa.Text, primary_key=True),
    sa.Column("station_id", sa.Text, nullable=False),
    sa.Column("token_key", sa.Text, nullable=False),
    sa.Column("id_token", sa.Text, nullable=False),
    sa.Column("token_type", sa.Text, nullable=False),
    sa.Column("driver_id", sa.Text),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("transaction_id", sa.Text),
    sa.Column("decided_at", TS, nullable=False),
)

token_sessions = sa.Table(  # open transactions per token, from the edges' answers (decisions.py)
    "token_sessions", metadata,
    sa.Column("station_id", sa.Text, primary_key=True),
    sa.Column("transaction_id", sa.Text, primary_key=True),
    sa.Column("token_key", sa.Text, nullable=False),
    sa.Column("started_at", TS, nullable=False),
)

station_sites = sa.Table(
    "station_sites", metadata,
    sa.Column("station_id", sa.Text, primary_key=True),
    sa.Column("location_id", sa.Text),
    sa.Column("registry_version", sa.BigInteger, nullable=False),
)

local_auth_lists = sa.Table(
    "local_auth_lists", metadata,
    sa.Column("station_id", sa.Text, primary_key=True),
    sa.Column("list_version", sa.Integer, nullable=False),
    sa.Column("content_hash", sa.Text, nullable=False),
    sa.Column("entries", sa.Integer, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

sa.Index("drivers_email_live", sa.func.lower(drivers.c.email), unique=True,
         postgresql_where=drivers.c.deleted_at.is_(None))
sa.Index("id_tokens_driver", id_tokens.c.driver_id)
sa.Index("authorizations_driver", authorizations.c.driver_id, authorizations.c.decided_at)
sa.Index("authorizations_token", authorizations.c.token_key, authorizations.c.decided_at)
sa.Index("authorizations_station", authorizations.c.station_id, authorizations.c.decided_at)
sa.Index("token_sessions_token", token_sessions.c.token_key)

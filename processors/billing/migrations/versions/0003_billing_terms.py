"""Billing terms: a token's membership level and budget caps (auth.tokens), a station's connector types
(stations.registry), and the terms a session pinned with its tariff (processors/billing/terms.py).

New tables only: sessions pinned before this migration have no terms row, so they keep being priced without a
membership discount, exactly as they were. The DDL is written out (not `terms.metadata.create_all`), so later
changes to those tables stay in their own migrations.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "billing_token_terms",
        sa.Column("id_token", sa.Text, primary_key=True),
        sa.Column("membership_level", sa.Text),
        sa.Column("cap_energy_wh_per_session", sa.BigInteger), sa.Column("cap_energy_wh_per_month", sa.BigInteger),
        sa.Column("cap_seconds_per_session", sa.BigInteger), sa.Column("cap_seconds_per_month", sa.BigInteger),
        sa.Column("cap_money_per_session", sa.Numeric), sa.Column("cap_money_per_month", sa.Numeric),
        sa.Column("cap_currency", sa.Text),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "billing_station_connector_types",
        sa.Column("station_id", sa.Text, primary_key=True),
        sa.Column("types", JSONB, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "billing_session_terms",
        sa.Column("session_id", sa.Text, primary_key=True),
        sa.Column("membership_level", sa.Text),
        sa.Column("connector_type", sa.Text),
    )


def downgrade() -> None:
    for table in ("billing_session_terms", "billing_station_connector_types", "billing_token_terms"):
        op.drop_table(table)

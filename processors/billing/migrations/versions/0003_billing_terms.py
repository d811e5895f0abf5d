"""Billing terms: a token's membership level and budget caps (auth.tokens), a station's connector types
(stations.registry), and the terms a session pinned with its tariff (processors/billing/terms.py).

New tables only: sessions pinned before this migration have no terms row, so they keep being priced without a
membership discount, exactly as they were.
"""

from alembic import op

from processors.billing.terms import metadata

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    metadata.drop_all(op.get_bind())

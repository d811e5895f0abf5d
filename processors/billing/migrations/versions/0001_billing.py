"""The billing store: the runtime tables and every billing table (processors/billing/store.py)."""

from alembic import op

from processors.billing.store import metadata
from processors.runtime import create_runtime_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_runtime_tables(op)
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    metadata.drop_all(op.get_bind())

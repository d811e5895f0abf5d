"""The counter test store: the runtime tables and one balance per account."""

import sqlalchemy as sa
from alembic import op

from processors.runtime import create_runtime_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_runtime_tables(op)
    op.create_table(
        "balances",
        sa.Column("account", sa.Text, primary_key=True),
        sa.Column("balance", sa.BigInteger, nullable=False),
        sa.Column("applied", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("balances")

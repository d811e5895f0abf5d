"""Open transactions per id token (`token_sessions`), published on `auth.token-sessions` for the edges' ConcurrentTx.

Rows come from the edges' answers on `ocpp.messages` (decisions.py); transactions the edges accepted before this
migration are not backfilled: they show up with their next TransactionEvent / StartTransaction retry, or never.
"""

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.execute(
        """
        create table token_sessions (
            station_id text not null,
            transaction_id text not null,
            token_key text not null,
            started_at timestamptz not null,
            primary key (station_id, transaction_id)
        )
        """
    )
    op.execute("create index token_sessions_token on token_sessions (token_key)")


def downgrade() -> None:
    op.execute("drop table token_sessions")

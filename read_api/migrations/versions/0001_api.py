"""The read API's own store: users, refresh tokens, API keys, commands, webhook subscriptions and deliveries."""

from alembic import op

from read_api.store import metadata

revision = "0001"
down_revision = None


def upgrade() -> None:
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    metadata.drop_all(op.get_bind())

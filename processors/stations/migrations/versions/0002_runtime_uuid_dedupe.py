"""Runtime tables v2: dedupe keys (`runtime_processed_events.event_id`) become 16-byte uuids.

Existing rows keep deduplicating: canonical uuid ids are cast, other ids (positional fallbacks, dead letters)
become their uuid5, exactly as the runtime now computes them (processors.runtime.store.dedupe_key).
"""

from alembic import op

from processors.runtime import downgrade_runtime_tables_v2, upgrade_runtime_tables_v2

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    upgrade_runtime_tables_v2(op)


def downgrade() -> None:
    downgrade_runtime_tables_v2(op)

"""billing_sessions: room for HOT updates, and an open-sessions index that a meter-progress update does not touch.

A MeterValues changes a session's `last_received_at`, which the old `billing_sessions_open` index contained, so every
progress update wrote a new entry into each of the table's four indexes. The index now holds `session_id` of the
open sessions (its predicate, `not ended`, changes once, at the stop), and pages keep 40 % free for the new row
versions: a progress update then stays on its page and touches no index (a heap-only tuple update).
The fill factor applies to pages written from now on; existing pages fill up as they are pruned.
"""

from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.execute("alter table billing_sessions set (fillfactor = 60)")
    op.execute("drop index if exists billing_sessions_open")
    op.execute("create index billing_sessions_open on billing_sessions (session_id) where not ended")


def downgrade() -> None:
    op.execute("drop index if exists billing_sessions_open")
    op.execute("create index billing_sessions_open on billing_sessions (last_received_at) where not ended")
    op.execute("alter table billing_sessions reset (fillfactor)")

"""billing_session_terms gains the session's token and start, indexed, for the monthly budget caps (a token's
sessions started this month, processors/billing/terms.py): no index is added to billing_sessions, whose progress
updates must stay heap-only.

Backfill: every stored session with a pinned tariff and a token gets its row (the ones pinned before 0003 had
none), so this month's sessions already count.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("billing_session_terms", sa.Column("id_token", sa.Text))
    op.add_column("billing_session_terms", sa.Column("started_at", sa.DateTime(timezone=True)))
    op.execute("update billing_session_terms p set id_token = s.id_token, started_at = s.started_at "
               "from billing_sessions s where s.session_id = p.session_id")
    op.execute("insert into billing_session_terms (session_id, id_token, started_at) "
               "select session_id, id_token, started_at from billing_sessions "
               "where id_token is not null and tariff_id is not null on conflict do nothing")
    op.create_index("billing_session_terms_token", "billing_session_terms", ["id_token", "started_at"])


def downgrade() -> None:
    op.drop_index("billing_session_terms_token", "billing_session_terms")
    op.drop_column("billing_session_terms", "started_at")
    op.drop_column("billing_session_terms", "id_token")

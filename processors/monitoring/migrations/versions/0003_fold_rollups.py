"""Roll-ups are folded from the raw samples after the batch commits, instead of upserted in every batch.

- `meter_samples.batch_id`: the id of the transaction that stored the row (`txid_current()`, one per batch);
  existing rows keep NULL (they were rolled up when stored). No table rewrite: the default applies to new rows.
- BRIN on `batch_id`: the folder reads back exactly the rows of the batches it folds.
- `meter_pending_batches`: one row per stored batch, written in the batch's transaction; the folder deletes the
  rows it folds in its own transaction, so each batch is rolled up exactly once.
"""

from alembic import op

revision = "0003"
down_revision = "0002"

_UP = """
alter table meter_samples add column batch_id bigint;
alter table meter_samples alter column batch_id set default txid_current();
create index meter_samples_batch on meter_samples using brin (batch_id);
create table meter_pending_batches (
    batch_id bigint primary key, min_ts timestamptz not null, max_ts timestamptz not null
)
"""

_DOWN = """
drop table meter_pending_batches;
drop index meter_samples_batch;
alter table meter_samples drop column batch_id
"""


def upgrade() -> None:
    for statement in _UP.split(";"):
        op.execute(statement)


def downgrade() -> None:
    for statement in _DOWN.split(";"):
        op.execute(statement)

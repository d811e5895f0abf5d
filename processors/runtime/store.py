"""The runtime's own tables, present in every processor's store, and the statements over them.

- `runtime_offsets`: the next offset to read per (group, topic, partition); written in the batch transaction.
- `runtime_processed_events`: one row per applied `event_id`, so a redelivered or duplicated event is a no-op.
- `runtime_outbox`: domain events (and dead letters) written with the effects; the relay publishes then deletes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

metadata = sa.MetaData()

offsets = sa.Table(
    "runtime_offsets",
    metadata,
    sa.Column("consumer_group", sa.Text, primary_key=True),
    sa.Column("topic", sa.Text, primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True),
    sa.Column("next_offset", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

processed_events = sa.Table(
    "runtime_processed_events",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

outbox = sa.Table(
    "runtime_outbox",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("key", sa.LargeBinary, nullable=True),
    sa.Column("value", sa.LargeBinary, nullable=True),
    sa.Column("schema_name", sa.Text, nullable=True),
    sa.Column("fingerprint", sa.Text, nullable=True),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

sa.Index("runtime_processed_events_at", processed_events.c.processed_at, postgresql_using="brin")


@dataclass(frozen=True)
class OutboxRow:
    """A record waiting in the outbox."""

    id: int
    topic: str
    key: bytes | None
    value: bytes | None
    schema_name: str | None
    fingerprint: str | None
    event_id: str


async def load_offsets(conn: AsyncConnection, group: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    rows = await conn.execute(
        sa.select(offsets.c.topic, offsets.c.partition, offsets.c.next_offset).where(
            offsets.c.consumer_group == group, offsets.c.topic.in_(list(topics))
        )
    )
    return {(r.topic, r.partition): r.next_offset for r in rows}


_SAVE_OFFSETS = sa.text(
    """
    insert into runtime_offsets (consumer_group, topic, partition, next_offset, updated_at)
    select :group, t, p, o, now() from unnest(cast(:topics as text[]), cast(:parts as int[]),
                                              cast(:offs as bigint[])) as x(t, p, o)
    on conflict (consumer_group, topic, partition)
    do update set next_offset = greatest(runtime_offsets.next_offset, excluded.next_offset), updated_at = now()
    """
)


async def save_offsets(conn: AsyncConnection, group: str, positions: dict[tuple[str, int], int]) -> None:
    """Record the next offsets to read (never moves an offset backwards)."""
    if not positions:
        return
    keys = sorted(positions)
    await conn.execute(
        _SAVE_OFFSETS,
        {
            "group": group,
            "topics": [k[0] for k in keys],
            "parts": [k[1] for k in keys],
            "offs": [positions[k] for k in keys],
        },
    )


_CLAIM = sa.text(
    """
    insert into runtime_processed_events (event_id)
    select unnest(cast(:ids as text[]))
    on conflict do nothing
    returning event_id
    """
)


async def claim_events(conn: AsyncConnection, event_ids: Sequence[str]) -> set[str]:
    """Insert dedupe records; return the ids that were new (the events to apply)."""
    if not event_ids:
        return set()
    rows = await conn.execute(_CLAIM, {"ids": list(event_ids)})
    return {r[0] for r in rows}


_ADD_OUTBOX = sa.text(
    """
    insert into runtime_outbox (topic, key, value, schema_name, fingerprint, event_id)
    select * from unnest(cast(:topic as text[]), cast(:key as bytea[]), cast(:value as bytea[]),
                         cast(:schema_name as text[]), cast(:fingerprint as text[]), cast(:event_id as text[]))
    """
)
_OUTBOX_COLUMNS = ("topic", "key", "value", "schema_name", "fingerprint", "event_id")


async def add_outbox(conn: AsyncConnection, rows: Sequence[dict[str, object]]) -> None:
    """Insert outbox rows in one statement (array parameters keep it one round trip)."""
    if rows:
        await conn.execute(_ADD_OUTBOX, {col: [row[col] for row in rows] for col in _OUTBOX_COLUMNS})


async def fetch_outbox(conn: AsyncConnection, limit: int) -> list[OutboxRow]:
    result = await conn.execute(sa.select(outbox).order_by(outbox.c.id).limit(limit))
    return [OutboxRow(r.id, r.topic, r.key, r.value, r.schema_name, r.fingerprint, r.event_id) for r in result]


async def delete_outbox(conn: AsyncConnection, ids: Sequence[int]) -> None:
    if ids:
        await conn.execute(sa.delete(outbox).where(outbox.c.id.in_(list(ids))))


async def count_outbox(conn: AsyncConnection) -> int:
    return int((await conn.execute(sa.select(sa.func.count()).select_from(outbox))).scalar_one())


async def prune_processed(conn: AsyncConnection, older_than_days: int) -> int:
    result = await conn.execute(
        sa.delete(processed_events).where(
            processed_events.c.processed_at < sa.func.now() - sa.text(f"interval '{int(older_than_days)} days'")
        )
    )
    return int(result.rowcount or 0)


def create_runtime_tables(op: object) -> None:
    """Call from each store's first Alembic revision: creates the runtime tables with the store's metadata."""
    bind = op.get_bind()  # type: ignore[attr-defined]
    metadata.create_all(bind)


def drop_runtime_tables(op: object) -> None:
    bind = op.get_bind()  # type: ignore[attr-defined]
    metadata.drop_all(bind)

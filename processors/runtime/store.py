"""The runtime's own tables, present in every processor's store, and the statements over them.

- `runtime_offsets`: the next offset to read per (group, topic, partition); written in the batch transaction.
- `runtime_processed_events`: one row per applied `event_id`, so a redelivered or duplicated event is a no-op.
  Keyed by a 16-byte `uuid` (`dedupe_key`): event ids are uuids; any other id (the positional fallback
  "topic:partition:offset", "dead:...") maps to its uuid5, deterministically.
- `runtime_outbox`: domain events (and dead letters) written with the effects; the relay deletes a batch of rows
  (`delete ... returning`), publishes them, and commits only once Kafka acknowledged them.

Schema history (each store's migrations call these helpers): `create_runtime_tables` (first revision, text dedupe
keys), `upgrade_runtime_tables_v2` (dedupe keys become `uuid`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
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


def _processed_events(target: sa.MetaData, key_type: Any) -> sa.Table:
    table = sa.Table(
        "runtime_processed_events",
        target,
        sa.Column("event_id", key_type, primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    sa.Index("runtime_processed_events_at", table.c.processed_at, postgresql_using="brin")
    return table


processed_events = _processed_events(metadata, postgresql.UUID(as_uuid=False))

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


# The dedupe key of a non-uuid event id. Never change it: stored keys would stop matching.
DEDUPE_NAMESPACE = uuid.UUID("6f1f5a2c-3c1e-5b8e-9a0d-2f4b7c9e1d30")
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CANONICAL_UUID_SQL = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def dedupe_key(event_id: str) -> str:
    """The uuid (canonical text) an event id is deduplicated by: itself if it is a canonical lowercase uuid,
    else its uuid5 (so distinct ids keep distinct keys, as with the text keys before)."""
    if _CANONICAL_UUID.fullmatch(event_id):
        return event_id
    return str(uuid.uuid5(DEDUPE_NAMESPACE, event_id))


# Batches of ids and rows travel as ONE JSON text parameter: asyncpg encodes an array parameter element by element,
# with several abstract-base-class checks each (~1.8 us per element); orjson writes a whole batch in C.
_CLAIM = sa.text(
    """
    insert into runtime_processed_events (event_id)
    select cast(value as uuid) from json_array_elements_text(cast(cast(:ids as text) as json))
    on conflict do nothing
    returning event_id::text
    """
)


async def claim_events(conn: AsyncConnection, event_ids: Sequence[str]) -> set[str]:
    """Insert dedupe records; return the ids that were new (the events to apply)."""
    if not event_ids:
        return set()
    keys: dict[str, str] = {}
    for event_id in event_ids:
        keys.setdefault(dedupe_key(event_id), event_id)
    rows = await conn.execute(_CLAIM, {"ids": orjson.dumps(list(keys)).decode()})
    return {keys[r[0]] for r in rows}


_ADD_OUTBOX = sa.text(
    """
    insert into runtime_outbox (topic, key, value, schema_name, fingerprint, event_id)
    select x.topic, decode(x.key, 'hex'), decode(x.value, 'hex'), x.schema_name, x.fingerprint, x.event_id
    from json_to_recordset(cast(cast(:rows as text) as json))
         as x(n int, topic text, key text, value text, schema_name text, fingerprint text, event_id text)
    order by x.n
    """
)


def _hex(raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"outbox key and value are bytes, not {type(raw).__name__}")
    return raw.hex()


async def add_outbox(conn: AsyncConnection, rows: Sequence[dict[str, object]]) -> None:
    """Insert outbox rows in one statement, in their order (one JSON parameter keeps it one round trip)."""
    if rows:
        payload = [{**row, "key": _hex(row["key"]), "value": _hex(row["value"]), "n": n} for n, row in enumerate(rows)]
        await conn.execute(_ADD_OUTBOX, {"rows": orjson.dumps(payload).decode()})


_TAKE_OUTBOX = sa.text(
    """
    delete from runtime_outbox
    where id in (select id from runtime_outbox order by id limit :limit)
    returning id, topic, key, value, schema_name, fingerprint, event_id
    """
)


async def take_outbox(conn: AsyncConnection, limit: int) -> list[OutboxRow]:
    """Delete the oldest `limit` rows and return them in id order. Publish them before committing: a rollback
    (failed publish, crash) puts them back, so a row leaves the outbox only once Kafka has it."""
    result = await conn.execute(_TAKE_OUTBOX, {"limit": limit})
    return sorted((OutboxRow(*r) for r in result), key=lambda row: row.id)


async def fetch_outbox(conn: AsyncConnection, limit: int) -> list[OutboxRow]:
    result = await conn.execute(sa.select(outbox).order_by(outbox.c.id).limit(limit))
    return [OutboxRow(*r) for r in result]


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
    """Call from each store's first Alembic revision: the runtime tables as they were first released (text
    dedupe keys); later helpers below bring them to the current layout."""
    bind = op.get_bind()  # type: ignore[attr-defined]
    first = sa.MetaData()
    for table in (offsets, outbox):
        table.to_metadata(first)
    _processed_events(first, sa.Text)
    first.create_all(bind)


def upgrade_runtime_tables_v2(op: object) -> None:
    """Dedupe keys become 16-byte uuids: canonical uuid ids are cast, any other id becomes its uuid5 (as
    `dedupe_key` computes it). Safe to run on a store already at this layout."""
    bind = op.get_bind()  # type: ignore[attr-defined]
    key_type = bind.execute(sa.text(
        "select data_type from information_schema.columns "
        "where table_schema = current_schema() and table_name = 'runtime_processed_events' "
        "and column_name = 'event_id'")).scalar_one()
    if key_type == "uuid":
        return
    others = [r[0] for r in bind.execute(
        sa.text("select event_id from runtime_processed_events where event_id !~ :pattern"),
        {"pattern": CANONICAL_UUID_SQL})]
    if others:
        bind.execute(
            sa.text("update runtime_processed_events p set event_id = m.key from unnest(cast(:ids as text[]), "
                    "cast(:keys as text[])) as m(id, key) where p.event_id = m.id"),
            {"ids": others, "keys": [dedupe_key(i) for i in others]},
        )
    bind.execute(sa.text(
        "alter table runtime_processed_events alter column event_id type uuid using event_id::uuid"))


def downgrade_runtime_tables_v2(op: object) -> None:
    """Back to text keys (ids that were mapped to a uuid5 stay mapped: such events are not re-applied, but a
    redelivery of one of them would be)."""
    bind = op.get_bind()  # type: ignore[attr-defined]
    bind.execute(sa.text(
        "alter table runtime_processed_events alter column event_id type text using event_id::text"))


def drop_runtime_tables(op: object) -> None:
    bind = op.get_bind()  # type: ignore[attr-defined]
    metadata.drop_all(bind)

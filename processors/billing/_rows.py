"""Batches of rows as ONE JSON text parameter, read by PostgreSQL's json_to_recordset.

asyncpg encodes an array parameter element by element with several abstract-base-class checks each (~1.8 us per
element), and SQLAlchemy's executemany compiles parameters per row; orjson writes a whole batch in C instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import cache

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection


def _default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_text(value: object) -> str:
    """Rows or ids as JSON text (Decimals as exact strings, datetimes as RFC 3339 with their offset)."""
    return orjson.dumps(value, default=_default).decode()


@cache
def _insert(table: sa.Table, columns: tuple[str, ...]) -> sa.TextClause:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    types = ", ".join(f"{c} {table.c[c].type.compile(dialect=dialect)}" for c in columns)
    names = ", ".join(columns)
    return sa.text(f"insert into {table.name} ({names}) select {names} "
                   f"from json_to_recordset(cast(cast(:rows as text) as json)) as x({types})")


async def insert_rows(conn: AsyncConnection, table: sa.Table, rows: Sequence[Mapping[str, object]]) -> None:
    """Insert rows (all with the same keys) in one statement."""
    if rows:
        await conn.execute(_insert(table, tuple(rows[0])), {"rows": json_text(rows)})

"""Read-only queries over the drivers store, for read_api. Every function takes an `AsyncConnection`.

Lists are keyset-paginated on their id (`after` = the previous page's `next_cursor`); authorization history pages
backwards in time with an opaque `before` cursor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from processors.authorization.local_lists import ENTRIES
from processors.authorization.store import (
    authorizations,
    drivers,
    id_tokens,
    local_auth_lists,
    membership_levels,
    token_history,
)

T = TypeVar("T")
MAX_LIMIT = 500


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class Driver:
    id: str
    user_id: str | None
    name: str
    email: str
    phone: str | None
    membership_level: str
    status: str
    allowed_station_ids: list[str] | None
    allowed_location_ids: list[str] | None
    allowed_hours: list[dict[str, Any]] | None
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


@dataclass(frozen=True)
class Token:
    token_key: str
    id_token: str
    token_type: str
    status: str
    expires_at: datetime | None
    group_id: str | None
    driver_id: str | None
    allow_concurrent_sessions: bool
    cap_energy_wh_per_session: int | None
    cap_energy_wh_per_month: int | None
    cap_seconds_per_session: int | None
    cap_seconds_per_month: int | None
    cap_money_per_session: Decimal | None
    cap_money_per_month: Decimal | None
    cap_currency: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


@dataclass(frozen=True)
class TokenChange:
    version: int
    action: str
    status: str
    published_status: str
    driver_id: str | None
    reason: str | None
    command_id: str | None
    at: datetime


@dataclass(frozen=True)
class AuthorizationRecord:
    source_event_id: str
    station_id: str
    token_key: str
    id_token: str
    token_type: str
    driver_id: str | None
    action: str
    outcome: str
    transaction_id: str | None
    decided_at: datetime


@dataclass(frozen=True)
class MembershipLevel:
    code: str
    name: str
    benefits: dict[str, Any]


@dataclass(frozen=True)
class LocalListEntry:
    token_key: str
    id_token: str
    token_type: str
    status: str
    expires_at: datetime | None
    group_id: str | None


@dataclass(frozen=True)
class LocalList:
    station_id: str
    list_version: int
    entries: list[LocalListEntry]


def _limit(limit: int) -> int:
    return max(1, min(limit, MAX_LIMIT))


async def _keyset_page(conn: AsyncConnection, table: sa.Table, key: sa.Column[Any], conditions: list[Any],
                       after: str | None, limit: int, build: Any) -> Page[Any]:
    """One page ordered by `key`, starting after `after`; the next cursor is the last key when more rows exist."""
    if after:
        conditions = [*conditions, key > after]
    n = _limit(limit)
    rows = (await conn.execute(sa.select(table).where(*conditions).order_by(key).limit(n + 1))).all()
    items = [build(**r._mapping) for r in rows[:n]]
    return Page(items, getattr(rows[n - 1], key.name) if len(rows) > n else None)


async def get_driver(conn: AsyncConnection, driver_id: str) -> Driver | None:
    """One driver (deleted ones too: their history stays readable)."""
    row = (await conn.execute(sa.select(drivers).where(drivers.c.id == driver_id))).one_or_none()
    return None if row is None else Driver(**row._mapping)


async def find_driver_by_email(conn: AsyncConnection, email: str) -> Driver | None:
    """The live driver with this email (case-insensitive)."""
    row = (await conn.execute(sa.select(drivers).where(sa.func.lower(drivers.c.email) == email.lower(),
                                                       drivers.c.deleted_at.is_(None)))).one_or_none()
    return None if row is None else Driver(**row._mapping)


async def list_drivers(conn: AsyncConnection, *, status: str | None = None, membership_level: str | None = None,
                       search: str | None = None, include_deleted: bool = False, after: str | None = None,
                       limit: int = 50) -> Page[Driver]:
    """Drivers by status, level and a text search on name/email, ordered by id."""
    conditions: list[Any] = []
    if not include_deleted:
        conditions.append(drivers.c.deleted_at.is_(None))
    if status:
        conditions.append(drivers.c.status == status)
    if membership_level:
        conditions.append(drivers.c.membership_level == membership_level)
    if search:
        conditions.append(sa.or_(drivers.c.name.icontains(search, autoescape=True),
                                 drivers.c.email.icontains(search, autoescape=True)))
    return await _keyset_page(conn, drivers, drivers.c.id, conditions, after, limit, Driver)


async def get_token(conn: AsyncConnection, key: str) -> Token | None:
    """One id token by key '<type>:<id>' (deleted ones too)."""
    row = (await conn.execute(sa.select(id_tokens).where(id_tokens.c.token_key == key))).one_or_none()
    return None if row is None else Token(**row._mapping)


async def list_tokens(conn: AsyncConnection, *, driver_id: str | None = None, status: str | None = None,
                      token_type: str | None = None, include_deleted: bool = False, after: str | None = None,
                      limit: int = 50) -> Page[Token]:
    """Id tokens by driver, status and type, ordered by key."""
    conditions: list[Any] = []
    if not include_deleted:
        conditions.append(id_tokens.c.deleted_at.is_(None))
    if driver_id:
        conditions.append(id_tokens.c.driver_id == driver_id)
    if status:
        conditions.append(id_tokens.c.status == status)
    if token_type:
        conditions.append(id_tokens.c.token_type == token_type)
    return await _keyset_page(conn, id_tokens, id_tokens.c.token_key, conditions, after, limit, Token)


async def token_changes(conn: AsyncConnection, key: str) -> list[TokenChange]:
    """Every version of a token, oldest first (issue, status changes, transfers, deletion)."""
    rows = await conn.execute(sa.select(token_history).where(token_history.c.token_key == key)
                              .order_by(token_history.c.version))
    return [TokenChange(**{k: v for k, v in r._mapping.items() if k != "token_key"}) for r in rows]


async def authorization_history(conn: AsyncConnection, *, driver_id: str | None = None, token_key: str | None = None,
                                station_id: str | None = None, before: str | None = None,
                                limit: int = 100) -> Page[AuthorizationRecord]:
    """Authorization decisions, newest first, by driver, token and/or station."""
    a = authorizations
    conditions: list[Any] = []
    if driver_id:
        conditions.append(a.c.driver_id == driver_id)
    if token_key:
        conditions.append(a.c.token_key == token_key)
    if station_id:
        conditions.append(a.c.station_id == station_id)
    if before:
        at, _, event = before.partition("|")
        conditions.append(sa.tuple_(a.c.decided_at, a.c.source_event_id)
                          < sa.tuple_(sa.literal(datetime.fromisoformat(at)), sa.literal(event)))
    n = _limit(limit)
    rows = (await conn.execute(sa.select(a).where(*conditions)
                               .order_by(a.c.decided_at.desc(), a.c.source_event_id.desc()).limit(n + 1))).all()
    items = [AuthorizationRecord(**r._mapping) for r in rows[:n]]
    cursor = f"{items[-1].decided_at.isoformat()}|{items[-1].source_event_id}" if len(rows) > n else None
    return Page(items, cursor)


async def membership_level_list(conn: AsyncConnection) -> list[MembershipLevel]:
    """Every membership level with its benefits."""
    rows = await conn.execute(sa.select(membership_levels).order_by(membership_levels.c.code))
    return [MembershipLevel(r.code, r.name, dict(r.benefits)) for r in rows]


async def local_list(conn: AsyncConnection, station_id: str) -> LocalList | None:
    """The local authorization list a station should hold (version and entries); None for an unknown station."""
    version = (await conn.execute(sa.select(local_auth_lists.c.list_version).where(
        local_auth_lists.c.station_id == station_id))).scalar_one_or_none()
    if version is None:
        return None
    rows = await conn.execute(sa.text(f"select * from ({ENTRIES}) e where e.station_id = :s order by token_key"),
                              {"s": station_id})
    return LocalList(station_id, int(version), [
        LocalListEntry(r.token_key, r.id_token, r.token_type, r.status, r.expires_at, r.group_id) for r in rows])

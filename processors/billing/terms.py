"""What a session is billed on besides its meter: the token's terms (the owning driver's membership level, the
budget caps) from `auth.tokens`, the connector types of a station from `stations.registry`, and the terms a
session pinned when its tariff was pinned.

Tables (created by migrations 0003 and 0005; kept here, not in store.py, so the hot path's tables stay as they are):

* `billing_token_terms`: one row per id token, version-guarded like `billing_tokens`.
* `billing_station_connector_types`: one row per station, `{"<evse>/<connector>": type}`, version-guarded.
* `billing_session_terms`: written once, in the transaction that pins the session's tariff (insert, never
  updated), so a later change of the driver's level never re-prices the session. No row = no level. Its token
  and start time (migration 0005) find a token's sessions of a month for the monthly caps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from processors.billing.domain import BudgetCaps
from processors.runtime import Event, UnitOfWork

metadata = sa.MetaData()

token_terms = sa.Table(  # from auth.tokens (TokenState's membership_level and cap_* fields)
    "billing_token_terms", metadata,
    sa.Column("id_token", sa.Text, primary_key=True),
    sa.Column("membership_level", sa.Text),
    sa.Column("cap_energy_wh_per_session", sa.BigInteger), sa.Column("cap_energy_wh_per_month", sa.BigInteger),
    sa.Column("cap_seconds_per_session", sa.BigInteger), sa.Column("cap_seconds_per_month", sa.BigInteger),
    sa.Column("cap_money_per_session", sa.Numeric), sa.Column("cap_money_per_month", sa.Numeric),
    sa.Column("cap_currency", sa.Text),
    sa.Column("version", sa.BigInteger, nullable=False),
)

connector_types = sa.Table(  # from stations.registry (its nullable `connectors` field)
    "billing_station_connector_types", metadata,
    sa.Column("station_id", sa.Text, primary_key=True),
    sa.Column("types", JSONB, nullable=False),  # {"<evse id>/<connector id>": "TYPE_2", ...}
    sa.Column("version", sa.BigInteger, nullable=False),
)

session_terms = sa.Table(  # pinned with the tariff, never updated
    "billing_session_terms", metadata,
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("membership_level", sa.Text),
    sa.Column("connector_type", sa.Text),
    sa.Column("id_token", sa.Text),  # with started_at: a token's sessions of a month (monthly caps), migration 0005
    sa.Column("started_at", sa.DateTime(timezone=True)),
)
sa.Index("billing_session_terms_token", session_terms.c.id_token, session_terms.c.started_at)

_CAPS = ("cap_energy_wh_per_session", "cap_energy_wh_per_month", "cap_seconds_per_session", "cap_seconds_per_month",
         "cap_money_per_session", "cap_money_per_month", "cap_currency")


def _decimal(raw: str | None) -> Decimal | None:
    return None if raw is None else Decimal(raw)


async def remember_token_terms(event: Event, uow: UnitOfWork) -> None:
    """auth.tokens -> billing_token_terms (a tombstone forgets the token; an older version changes nothing)."""
    v, t = event.value, token_terms
    if v is None:
        token = (event.key or "").split(":", 1)[-1]
        await uow.conn.execute(sa.delete(t).where(t.c.id_token == token))
        return
    values: dict[str, Any] = {"id_token": v["id_token"], "membership_level": v.get("membership_level"),
                              "version": v["version"], **{c: v.get(c) for c in _CAPS}}
    for money in ("cap_money_per_session", "cap_money_per_month"):
        values[money] = _decimal(values[money])
    stmt = insert(t).values(**values)
    await uow.conn.execute(stmt.on_conflict_do_update(
        index_elements=["id_token"], set_=values, where=t.c.version <= v["version"]))


async def remember_connector_types(event: Event, uow: UnitOfWork) -> None:
    """stations.registry -> billing_station_connector_types. An entry without `connectors` (a writer older than
    the field, or a station registered without EVSEs) leaves what is known; a tombstone forgets the station."""
    v, c = event.value, connector_types
    if v is None:
        await uow.conn.execute(sa.delete(c).where(c.c.station_id == (event.key or "")))
        return
    if v.get("connectors") is None:
        return
    types = {f"{x['evse_id']}/{x['connector_id']}": x["connector_type"] for x in v["connectors"]
             if x.get("connector_type")}
    values = {"station_id": v["station_id"], "types": types, "version": v["version"]}
    stmt = insert(c).values(**values)
    await uow.conn.execute(stmt.on_conflict_do_update(
        index_elements=["station_id"], set_=values, where=c.c.version <= v["version"]))


def connector_type_of(types: Mapping[str, str], evse_id: int | None, connector_id: int | None) -> str | None:
    """The type of a session's connector, as the stations registry names it (TYPE_2, CCS2...): the exact
    `<evse>/<connector>`, else the one type all connectors of the EVSE share (a 2.x session may name only its
    EVSE; a 1.6 session's EVSE is its connectorId). None when unknown or ambiguous."""
    if evse_id is None:
        return None
    if connector_id is not None and f"{evse_id}/{connector_id}" in types:
        return types[f"{evse_id}/{connector_id}"]
    on_evse = {t for key, t in types.items() if key.split("/", 1)[0] == str(evse_id)}
    return on_evse.pop() if len(on_evse) == 1 else None


async def connector_types_of(conn: AsyncConnection, station_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """The known connector types of stations (from stations.registry)."""
    c = connector_types
    rows = await conn.execute(sa.select(c.c.station_id, c.c.types).where(c.c.station_id.in_(sorted(set(station_ids)))))
    return {r.station_id: dict(r.types) for r in rows}


async def membership_levels_of(conn: AsyncConnection, id_tokens: Iterable[str]) -> dict[str, str]:
    """The current membership level of tokens' drivers (tokens without one are left out)."""
    t = token_terms
    rows = await conn.execute(sa.select(t.c.id_token, t.c.membership_level).where(
        t.c.id_token.in_(sorted(set(id_tokens))), t.c.membership_level.is_not(None)))
    return {r.id_token: r.membership_level for r in rows}


@dataclass(frozen=True)
class PinnedTerms:
    session_id: str
    membership_level: str | None
    connector_type: str | None
    id_token: str | None
    started_at: datetime


async def pin_session_terms(conn: AsyncConnection, pinned: Sequence[PinnedTerms]) -> None:
    """Store what sessions pinned with their tariff; the first pin stays (a replay changes nothing). A session
    without a token, a level or a connector type needs no row."""
    rows = [{"session_id": p.session_id, "membership_level": p.membership_level, "connector_type": p.connector_type,
             "id_token": p.id_token, "started_at": p.started_at}
            for p in pinned if p.membership_level is not None or p.connector_type is not None or p.id_token]
    if rows:
        await conn.execute(insert(session_terms).values(rows).on_conflict_do_nothing())


async def pinned_levels(conn: AsyncConnection, session_ids: Iterable[str]) -> dict[str, str]:
    """The membership level each session pinned (sessions without one are left out)."""
    s = session_terms
    ids = sorted(set(session_ids))
    if not ids:
        return {}
    rows = await conn.execute(sa.select(s.c.session_id, s.c.membership_level).where(
        s.c.session_id.in_(ids), s.c.membership_level.is_not(None)))
    return {r.session_id: r.membership_level for r in rows}


# the sessions of tokens started since `since` whose tariff was pinned (terms rows), with what each used; money
# is the priced total in the cap's currency (a running session has no final price yet)
_MONTH_SESSIONS = sa.text("""
    select p.id_token, p.session_id, s.energy_wh,
           extract(epoch from coalesce(s.stopped_at, :now) - s.started_at) as seconds,
           case when s.currency = t.cap_currency then s.total_incl_vat end as money
    from billing_session_terms p
      join billing_sessions s on s.session_id = p.session_id
      join billing_token_terms t on t.id_token = p.id_token
    where p.id_token = any(cast(:tokens as text[])) and p.started_at >= :since""")


@dataclass(frozen=True)
class MonthUsed:
    energy_wh: Decimal
    seconds: Decimal
    money: Decimal


def month_start(now: datetime) -> datetime:
    """The start of `now`'s calendar month, UTC (monthly caps count the sessions started since)."""
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def used_this_month(conn: AsyncConnection, sessions: Mapping[str, str], now: datetime) -> dict[str, MonthUsed]:
    """Per running session (`sessions` maps it to its token), what the *other* sessions of its token started
    this month used (a concurrent session of the same token counts for the other, never for itself)."""
    if not sessions:
        return {}
    rows = (await conn.execute(_MONTH_SESSIONS, {"tokens": sorted(set(sessions.values())),
                                                 "since": month_start(now), "now": now})).all()
    by_token: dict[str, list[Any]] = {}
    for r in rows:
        by_token.setdefault(r.id_token, []).append(r)
    used = {}
    for session_id, id_token in sessions.items():
        others = [r for r in by_token.get(id_token, ()) if r.session_id != session_id]
        used[session_id] = MonthUsed(sum((Decimal(r.energy_wh) for r in others), Decimal(0)),
                                     sum((Decimal(r.seconds or 0) for r in others), Decimal(0)),
                                     sum((Decimal(r.money) for r in others if r.money is not None), Decimal(0)))
    return used


def _least(*values: Decimal | None) -> Decimal | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def session_caps(row: Any, currency: str | None, used: MonthUsed | None = None) -> BudgetCaps:
    """A running session's per-session caps: a billing-side SetTokenBudget value wins, field by field, over the
    token's cap from the authorization processor; a money cap from auth.tokens applies only to a session priced
    in the cap's currency (a SetTokenBudget amount is in the tariff's currency by definition)."""
    money = row.max_amount
    if money is None and row.cap_money_per_session is not None and row.cap_currency == currency:
        money = row.cap_money_per_session
    energy = row.max_energy_wh if row.max_energy_wh is not None else row.cap_energy_wh_per_session
    duration = row.max_duration_s if row.max_duration_s is not None else row.cap_seconds_per_session
    caps = BudgetCaps(None if energy is None else Decimal(energy), None if duration is None else int(duration),
                      money)
    return caps if used is None else _within_month(caps, row, currency, used)


def _within_month(caps: BudgetCaps, row: Any, currency: str | None, used: MonthUsed) -> BudgetCaps:
    """The per-session caps lowered to what the token's monthly caps leave after its other sessions this month."""
    def left(cap: Any, spent: Decimal) -> Decimal | None:
        return None if cap is None else Decimal(cap) - spent

    money_cap = row.cap_money_per_month if row.cap_currency == currency else None
    duration = _least(None if caps.max_duration_s is None else Decimal(caps.max_duration_s),
                      left(row.cap_seconds_per_month, used.seconds))
    return BudgetCaps(_least(caps.max_energy_wh, left(row.cap_energy_wh_per_month, used.energy_wh)),
                      None if duration is None else max(int(duration), 0),
                      _least(caps.max_amount, left(money_cap, used.money)))

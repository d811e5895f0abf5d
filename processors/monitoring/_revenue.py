"""Revenue from billing's events (`billing.events`): one row per session, the latest billable price wins.

SessionStarted gives the session's station, SessionEnded its end (the day revenue counts on), SessionPriced its
amount: `total_excl_vat` (net revenue; VAT is not the operator's) in the tariff's currency, kept as Decimal.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from processors.monitoring.store import revenue_sessions
from processors.runtime import Event, UnitOfWork


async def _upsert(conn: AsyncConnection, session_id: str, **values: Any) -> None:
    stmt = insert(revenue_sessions).values(session_id=session_id, billable=values.pop("billable", False), **values)
    update = {k: stmt.excluded[k] for k in values}
    await conn.execute(stmt.on_conflict_do_update(index_elements=["session_id"], set_=update) if update
                       else stmt.on_conflict_do_nothing())


async def on_session_started(event: Event, uow: UnitOfWork) -> None:
    v = event.value
    if v is not None:
        await _upsert(uow.conn, v["session_id"], station_id=v["station_id"])


async def on_session_ended(event: Event, uow: UnitOfWork) -> None:
    v = event.value
    if v is not None:
        await _upsert(uow.conn, v["session_id"], ended_at=v.get("stopped_at") or v.get("stop_received_at"))


async def on_session_priced(event: Event, uow: UnitOfWork) -> None:
    v = event.value
    if v is None:
        return
    stmt = insert(revenue_sessions).values(
        session_id=v["session_id"], currency=v["currency"], amount=Decimal(v["total_excl_vat"]),
        billable=bool(v["billable"]), priced_at=v.get("priced_until"))
    await uow.conn.execute(stmt.on_conflict_do_update(
        index_elements=["session_id"],
        set_={"currency": stmt.excluded.currency, "amount": stmt.excluded.amount, "billable": stmt.excluded.billable,
              "priced_at": stmt.excluded.priced_at},
        where=(revenue_sessions.c.priced_at.is_(None) | stmt.excluded.priced_at.is_(None)
               | (stmt.excluded.priced_at >= revenue_sessions.c.priced_at))))

"""The billing processor's periodic task, run next to the consumer (sharing its stop event): close stale
sessions, flag overlapping sessions on one connector, send running costs (2.x CostUpdated) and stop sessions
whose token budget is spent (caps from auth.tokens, overridden by SetTokenBudget: terms.session_caps). Each round
is one transaction; its events go through the runtime outbox."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.logs import get_logger
from processors.billing import store
from processors.billing.charging import BillingDeps, commit_changes, load_records
from processors.billing.domain import BudgetCaps, TxEnded, cap_reached, flag_overlapping, price_so_far
from processors.billing.outbound import emit_ocpp_command
from processors.billing.session_store import InputRow, SessionRecord, stale_row
from processors.billing.terms import session_caps, used_this_month
from processors.runtime import Command, CommandRejected, UnitOfWork
from processors.runtime.store import add_outbox
from processors.runtime.uow import BatchUnitOfWork
from schemas import AvroCodec, TopicCatalog

log = get_logger(__name__)
BATCH = 500

_STALE = sa.text("select session_id, station_id, transaction_id, ocpp_version from billing_sessions "
                 "where not ended and last_received_at < :before order by last_received_at limit :n")
_OVERLAPS = sa.text("""
    select a.session_id as a_id, a.station_id as a_st, a.transaction_id as a_tx, a.ocpp_version as a_v,
           b.session_id as b_id, b.station_id as b_st, b.transaction_id as b_tx, b.ocpp_version as b_v
    from billing_sessions a join billing_sessions b
      on a.station_id = b.station_id and a.evse_id = b.evse_id and a.session_id < b.session_id
    where a.started_at > :since and b.started_at > :since
      and a.started_at < coalesce(b.stopped_at, 'infinity') and b.started_at < coalesce(a.stopped_at, 'infinity')
      and not (a.flags @> array['OVERLAPPING_SESSION'] and b.flags @> array['OVERLAPPING_SESSION'])
    limit :n""")
# running sessions due a CostUpdated (2.x) or under a budget cap not yet acted on; a SetTokenBudget row (billing's
# override) and the token's caps from auth.tokens are both joined: terms.session_caps decides which wins. Read in
# pages after `:after` (BillingDeps.running_after): with more than BATCH capped sessions, every one is still
# checked, once every ceil(n / BATCH) rounds
_RUNNING = sa.text("""
    select s.session_id, s.station_id, s.transaction_id, s.ocpp_version, s.cost_sent_at, s.stop_requested_at,
           b.max_energy_wh, b.max_duration_s, b.max_amount, s.id_token, t.cap_energy_wh_per_session,
           t.cap_seconds_per_session, t.cap_money_per_session, t.cap_energy_wh_per_month, t.cap_seconds_per_month,
           t.cap_money_per_month, t.cap_currency, p.membership_level
    from billing_sessions s
      left join billing_token_budgets b on b.id_token = s.id_token
      left join billing_token_terms t on t.id_token = s.id_token
      left join billing_session_terms p on p.session_id = s.session_id
    where not s.ended
      and ((s.tariff_id is not null and s.ocpp_version <> 'ocpp1.6'
            and (s.cost_sent_at is null or s.cost_sent_at < :resend))
           or (s.stop_requested_at is null and (b.id_token is not null or t.cap_energy_wh_per_session is not null
               or t.cap_seconds_per_session is not null or t.cap_money_per_session is not null
               or t.cap_energy_wh_per_month is not null or t.cap_seconds_per_month is not null
               or t.cap_money_per_month is not null)))
      and s.session_id > :after
    order by s.session_id limit :n""")


@dataclass
class Round:
    closed: int = 0
    overlapping: int = 0
    cost_updates: int = 0
    stops: int = 0


async def close_stale(deps: BillingDeps, uow: UnitOfWork, now: datetime) -> int:
    """End sessions not heard from for `stale_after_s` at their last known meter (flag STALE_CLOSED)."""
    max_age = timedelta(seconds=deps.settings.stale_after_s)
    rows = (await uow.conn.execute(_STALE, {"before": now - max_age, "n": BATCH})).all()
    if not rows:
        return 0
    records = await load_records(deps, uow.conn, {r.session_id: (r.station_id, r.transaction_id, r.ocpp_version)
                                                   for r in rows})
    new_rows: list[InputRow] = []
    for record in records.values():
        if record.session.close_stale(now, max_age):
            synthetic = next(tx for tx in record.session.inputs if isinstance(tx, TxEnded) and tx.synthetic)
            new_rows.append(stale_row(record.session, synthetic, record.ocpp_version))
    await commit_changes(deps, uow, list(records.values()), new_rows)
    return len(new_rows)


async def flag_overlaps(deps: BillingDeps, uow: UnitOfWork, now: datetime) -> int:
    """Flag OVERLAPPING_SESSION on sessions overlapping on one station + EVSE (domain `flag_overlapping`)."""
    since = now - timedelta(days=deps.settings.overlap_window_days)
    rows = (await uow.conn.execute(_OVERLAPS, {"since": since, "n": BATCH})).all()
    if not rows:
        return 0
    wanted = {r.a_id: (r.a_st, r.a_tx, r.a_v) for r in rows} | {r.b_id: (r.b_st, r.b_tx, r.b_v) for r in rows}
    records = await load_records(deps, uow.conn, wanted)
    pairs = flag_overlapping(r.session for r in records.values())
    await commit_changes(deps, uow, list(records.values()))
    return len(pairs)


async def running_costs(deps: BillingDeps, uow: UnitOfWork, now: datetime) -> tuple[int, int]:
    """Send 2.x CostUpdated for running sessions and stop sessions whose token budget is reached."""
    resend = now - timedelta(seconds=deps.settings.cost_update_interval_s)
    rows = (await uow.conn.execute(_RUNNING, {"resend": resend, "n": BATCH, "after": deps.running_after})).all()
    # the next round goes on after this page, or starts over after the last one
    deps.running_after = rows[-1].session_id if len(rows) == BATCH else ""
    if not rows:
        return 0, 0
    records = await load_records(deps, uow.conn, {r.session_id: (r.station_id, r.transaction_id, r.ocpp_version)
                                                   for r in rows})
    monthly = {r.session_id: r.id_token for r in rows if r.id_token and any(
        c is not None for c in (r.cap_energy_wh_per_month, r.cap_seconds_per_month, r.cap_money_per_month))}
    used = await used_this_month(uow.conn, monthly, now)
    updates = stops = 0
    for row in rows:
        record = records[row.session_id]
        tariff = await deps.tariffs.version(uow.conn, record.session.tariff) if record.session.tariff else None
        cost = price_so_far(record.session, tariff, now, membership_level=row.membership_level) if tariff else None
        changes: dict[str, Any] = {} if cost is None else {"running_total": cost.total_incl_vat}
        v2 = record.ocpp_version != "ocpp1.6"
        if cost is not None and v2 and (row.cost_sent_at is None or row.cost_sent_at < resend):
            payload = '{"totalCost": %s, "transactionId": %s}' % (  # noqa: UP031 - an exact JSON number
                cost.total_incl_vat, orjson.dumps(row.transaction_id).decode())
            emit_ocpp_command(uow, row.station_id, "CostUpdated", payload)
            changes["cost_sent_at"] = now
            updates += 1
        caps = session_caps(row, tariff.currency if tariff else None, used.get(row.session_id))
        if row.stop_requested_at is None and caps != BudgetCaps() and cap_reached(record.session, cost, caps, now):
            _request_stop(uow, record, v2)
            changes["stop_requested_at"] = now
            stops += 1
        if changes:
            await uow.conn.execute(sa.update(store.sessions).where(store.sessions.c.session_id == row.session_id)
                                   .values(**changes))
    return updates, stops


def _request_stop(uow: UnitOfWork, record: SessionRecord, v2: bool) -> None:
    tx = record.session.state.transaction_id
    if v2:
        emit_ocpp_command(uow, record.session.state.station_id, "RequestStopTransaction",
                          orjson.dumps({"transactionId": tx}).decode())
    else:
        emit_ocpp_command(uow, record.session.state.station_id, "RemoteStopTransaction",
                          orjson.dumps({"transactionId": int(tx)}).decode())


async def housekeeping_round(
    deps: BillingDeps, engine: AsyncEngine, codec: AvroCodec, topics: TopicCatalog, now: datetime | None = None
) -> Round:
    """One round in one transaction."""
    now = now or datetime.now(UTC)
    done = Round()
    async with engine.begin() as conn:
        uow = BatchUnitOfWork(conn, codec, topics)
        done.closed = await close_stale(deps, uow, now)
        done.overlapping = await flag_overlaps(deps, uow, now)
        done.cost_updates, done.stops = await running_costs(deps, uow, now)
        await add_outbox(conn, uow.take())
    return done


async def run_housekeeping(
    deps: BillingDeps, engine: AsyncEngine, codec: AvroCodec, topics: TopicCatalog, stop: asyncio.Event
) -> None:
    """Rounds every `housekeeping_interval_s` until `stop` is set; a failed round is logged and retried."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), deps.settings.housekeeping_interval_s)
        if stop.is_set():
            return
        try:
            done = await housekeeping_round(deps, engine, codec, topics)
        except Exception as exc:  # the next round retries; nothing is half-written (one transaction)
            deps.cache.clear()
            log.warning("billing housekeeping round failed", error=repr(exc))
            continue
        if done.closed or done.overlapping or done.stops:
            log.info("billing housekeeping", closed=done.closed, overlapping=done.overlapping, stops=done.stops)


async def set_token_budget(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """SetTokenBudget {id_token, max_energy_wh?, max_duration_s?, max_amount?} -> OK: billing's per-session
    override of the caps auth.tokens carries (a value set here wins, field by field; `max_amount` is in the
    tariff's currency). When a cap is reached the session is stopped through ocpp.commands."""
    p = command.payload
    if not isinstance(p.get("id_token"), str):
        raise CommandRejected("INVALID", "needs id_token")
    try:
        values = {"id_token": p["id_token"],
                  "max_energy_wh": Decimal(p["max_energy_wh"]) if p.get("max_energy_wh") is not None else None,
                  "max_duration_s": int(p["max_duration_s"]) if p.get("max_duration_s") is not None else None,
                  "max_amount": Decimal(p["max_amount"]) if p.get("max_amount") is not None else None}
    except (InvalidOperation, TypeError, ValueError):
        raise CommandRejected("INVALID", "caps are decimal strings (max_duration_s an integer)") from None
    from sqlalchemy.dialects.postgresql import insert

    stmt = insert(store.token_budgets).values(**values)
    await uow.conn.execute(stmt.on_conflict_do_update(index_elements=["id_token"], set_=values))
    return "OK", {k: (str(v) if v is not None else None) for k, v in values.items()}

"""What happens to sessions whose state changed in a batch: pin the tariff at the start, price at the end,
settle (wallet charge for members with a wallet, an invoice per session for ad-hoc drivers), store, announce."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from processors.billing import invoicing, terms, wallets
from processors.billing.domain import ChargingSession, DomainEvent, SessionStatus, TariffContext, bill_session
from processors.billing.domain.invoice import draft_invoice, session_supply
from processors.billing.outbound import emit_session_events
from processors.billing.session_store import (
    InputRow,
    SessionCache,
    SessionRecord,
    insert_inputs,
    lock_and_load,
    save_sessions,
)
from processors.billing.settings import BillingSettings
from processors.billing.tariffs import TariffBook
from processors.runtime import UnitOfWork


@dataclass
class BillingDeps:
    """What the billing handlers share inside one process (built by bootstrap, never at import time)."""

    settings: BillingSettings
    cache: SessionCache
    tariffs: TariffBook = field(default_factory=TariffBook)
    running_after: str = ""  # housekeeping's place in the running sessions it checks (one page per round)


@dataclass(frozen=True)
class Where:
    """Who and where a session is, for tariff selection and invoicing."""

    operator_id: str
    site_id: str | None
    groups: tuple[str, ...]


_STATIONS = sa.text("select station_id, operator_id, location_id from billing_stations "
                    "where station_id = any(cast(:ids as text[]))")
_TOKENS = sa.text("select id_token, driver_id, group_id from billing_tokens where id_token = any(cast(:ids as text[]))")


async def stations_of(conn: AsyncConnection, station_ids: Iterable[str]) -> dict[str, tuple[str | None, str | None]]:
    """(operator id, location id) of known stations (from stations.registry)."""
    rows = await conn.execute(_STATIONS, {"ids": sorted(set(station_ids))})
    return {r.station_id: (r.operator_id, r.location_id) for r in rows}


async def tokens_of(conn: AsyncConnection, id_tokens: Iterable[str]) -> dict[str, tuple[str | None, str | None]]:
    """(driver id, group id) of known tokens (from auth.tokens)."""
    rows = await conn.execute(_TOKENS, {"ids": sorted(set(id_tokens))})
    return {r.id_token: (r.driver_id, r.group_id) for r in rows}


async def load_records(
    deps: BillingDeps, conn: AsyncConnection, wanted: dict[str, tuple[str, str, str]]
) -> dict[str, SessionRecord]:
    """Stored sessions (locked) plus new ones for ids not stored yet; `wanted` maps id -> (station, tx, version)."""
    records = await lock_and_load(conn, deps.cache, wanted)
    missing = [sid for sid in wanted if sid not in records]
    operators = await stations_of(conn, (wanted[sid][0] for sid in missing)) if missing else {}
    for sid in missing:
        station_id, transaction_id, version = wanted[sid]
        operator = operators.get(station_id, (None, None))[0] or deps.settings.default_operator_id
        records[sid] = SessionRecord(ChargingSession(sid, station_id, transaction_id), version, operator)
    return records


async def _pin_tariffs(deps: BillingDeps, conn: AsyncConnection, records: Sequence[SessionRecord]) -> None:
    """Pin the tariff version of sessions whose start is known, and with it the terms known at that moment
    (the driver's membership level, the connector type): a later change of either never re-prices them."""
    todo = [r for r in records if r.session.tariff is None and r.session.state.started_at is not None]
    if not todo:
        return
    await deps.tariffs.refresh(conn)
    station_ids = {r.session.state.station_id for r in todo}
    id_tokens = {r.session.state.id_token for r in todo if r.session.state.id_token}
    places = await stations_of(conn, station_ids)
    tokens = await tokens_of(conn, id_tokens)
    connectors = await terms.connector_types_of(conn, station_ids)
    levels = await terms.membership_levels_of(conn, id_tokens)
    pinned = []
    for record in todo:
        state = record.session.state
        group = tokens.get(state.id_token or "", (None, None))[1]
        connector_type = terms.connector_type_of(connectors.get(state.station_id, {}), state.evse_id,
                                                 state.connector_id)
        context = TariffContext(station_id=state.station_id, evse_id=state.evse_id,
                                site_id=places.get(state.station_id, (None, None))[1],
                                connector_type=connector_type, driver_groups=(group,) if group else ())
        assert state.started_at is not None
        tariff = deps.tariffs.select(context, state.started_at)
        if tariff is not None:
            record.session.pin_tariff(tariff.ref)
            pinned.append(terms.PinnedTerms(record.session.session_id, levels.get(state.id_token or ""),
                                            connector_type, state.id_token, state.started_at))
    await terms.pin_session_terms(conn, pinned)


async def _price(deps: BillingDeps, conn: AsyncConnection, records: Sequence[SessionRecord]) -> None:
    """Price ended sessions with their pinned tariff and the membership level pinned with it."""
    due = [r.session for r in records if r.session.state.ended and r.session.tariff is not None]
    if not due:
        return
    levels = await terms.pinned_levels(conn, (s.session_id for s in due if s.state.id_token))
    for session in due:
        assert session.tariff is not None
        tariff = await deps.tariffs.version(conn, session.tariff)
        if tariff is not None:
            bill_session(session, tariff, membership_level=levels.get(session.session_id))


async def _settle(uow: UnitOfWork, records: Sequence[SessionRecord]) -> None:
    """Members pay from their wallet when it holds enough (else the monthly invoice); ad-hoc drivers get an
    invoice per session. A session is settled once; a later re-pricing does not touch its invoice."""
    ad_hoc = []
    for record in records:
        session, cost = record.session, record.session.cost
        if not session.billable or cost is None or record.invoice_id or record.wallet_entry_id:
            continue
        if session.state.driver_id is None:
            if cost.total_incl_vat > 0:
                ad_hoc.append(record)
            continue
        record.wallet_entry_id = await wallets.charge_session(
            uow, session.state.driver_id, session.session_id, record.operator_id, cost.total_incl_vat, cost.currency)
    items = []
    for record in ad_hoc:
        cost = record.session.cost
        assert cost is not None
        draft = draft_invoice(cost.currency, [session_supply(record.session.session_id, cost)])
        items.append(invoicing.NewInvoice("SESSION", record.operator_id, None, draft, "PENDING",
                                          (record.session.session_id,)))
    for record, invoice_id in zip(ad_hoc, await invoicing.issue(uow, items), strict=True):
        record.invoice_id = invoice_id


async def commit_changes(
    deps: BillingDeps, uow: UnitOfWork, records: Sequence[SessionRecord], rows: Sequence[InputRow] = (),
) -> None:
    """Pin, price, settle, store and announce the sessions whose state changed (and store their new inputs)."""
    await insert_inputs(uow.conn, rows)
    changed = [r for r in records if r.session.events]
    await _pin_tariffs(deps, uow.conn, changed)
    await _price(deps, uow.conn, changed)
    await _settle(uow, changed)
    await save_sessions(uow.conn, changed)
    for record in changed:
        events: list[DomainEvent] = list(record.session.events)
        record.session.events.clear()
        emit_session_events(uow, record, events, timedelta(seconds=deps.settings.update_interval_s))
        deps.cache.put(record)


def is_open(record: SessionRecord) -> bool:
    """A session that still runs."""
    return not record.session.state.ended and record.session.state.status is not SessionStatus.ABORTED


def result(records: Sequence[SessionRecord]) -> dict[str, Any]:
    """A small summary for logs and command outcomes."""
    return {"sessions": len(records), "ended": sum(r.session.state.ended for r in records)}

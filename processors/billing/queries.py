"""Read-only queries over the billing store, for read_api. Every function takes an `AsyncConnection` and
returns plain JSON-ready values (Decimals as strings, datetimes as ISO 8601)."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from processors.billing import store
from processors.billing.domain import price_so_far
from processors.billing.invoice_pdf import pdf_document
from processors.billing.session_store import SessionCache, cost_to_json, lock_and_load
from processors.billing.tariffs import TariffBook
from processors.billing.terms import pinned_levels


def _plain(row: Any) -> dict[str, Any]:
    out = {}
    for key, value in row._mapping.items():
        if isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[key] = value
    return out


async def get_session(conn: AsyncConnection, session_id: str) -> dict[str, Any] | None:
    """One session with its state, flags, notes and stored cost breakdown."""
    s = store.sessions
    row = (await conn.execute(sa.select(s).where(s.c.session_id == session_id))).first()
    return None if row is None else _plain(row)


async def list_sessions(
    conn: AsyncConnection, *, station_id: str | None = None, driver_id: str | None = None,
    status: str | None = None, active: bool | None = None, limit: int = 100,
) -> list[dict[str, Any]]:
    """Sessions, newest first, filtered by station, driver, status, or running (`active=True`)."""
    s = store.sessions
    query = sa.select(s).order_by(s.c.started_at.desc().nulls_last(), s.c.session_id).limit(limit)
    for column, value in ((s.c.station_id, station_id), (s.c.driver_id, driver_id), (s.c.status, status)):
        if value is not None:
            query = query.where(column == value)
    if active is not None:
        query = query.where(s.c.ended.is_(not active))
    return [_plain(r) for r in await conn.execute(query)]


async def running_cost(conn: AsyncConnection, session_id: str, now: datetime | None = None) -> dict[str, Any] | None:
    """The cost of a session so far (the final cost once it ended), with its breakdown and the membership level
    pinned with its tariff; None if it has no tariff. Read-only: the session is rebuilt from its inputs (the row
    lock is released with the caller's transaction)."""
    records = await lock_and_load(conn, SessionCache(0), [session_id])
    record = records.get(session_id)
    if record is None or record.session.tariff is None:
        return None
    if record.session.state.ended and record.session.cost is not None:
        return cost_to_json(record.session.cost)
    tariff = await TariffBook().version(conn, record.session.tariff)
    if tariff is None:
        return None
    level = (await pinned_levels(conn, [session_id])).get(session_id)
    return cost_to_json(price_so_far(record.session, tariff, now or datetime.now(UTC), membership_level=level))


async def list_tariffs(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every tariff that is not deleted, with its latest version and body."""
    t, v = store.tariffs, store.tariff_versions
    latest = sa.select(v.c.tariff_id, sa.func.max(v.c.version).label("version")).group_by(v.c.tariff_id).subquery()
    query = (sa.select(v.c.tariff_id, v.c.version, v.c.body, v.c.created_at)
             .join(latest, sa.and_(latest.c.tariff_id == v.c.tariff_id, latest.c.version == v.c.version))
             .join(t, t.c.tariff_id == v.c.tariff_id).where(t.c.deleted_at.is_(None)).order_by(v.c.tariff_id))
    return [_plain(r) for r in await conn.execute(query)]


async def get_tariff(conn: AsyncConnection, tariff_id: str) -> dict[str, Any] | None:
    """A tariff with all its versions (oldest first) and where it is assigned."""
    t, v, a = store.tariffs, store.tariff_versions, store.tariff_assignments
    row = (await conn.execute(sa.select(t).where(t.c.tariff_id == tariff_id))).first()
    if row is None:
        return None
    versions = [_plain(r) for r in await conn.execute(sa.select(v).where(v.c.tariff_id == tariff_id)
                                                       .order_by(v.c.version))]
    assigned = [_plain(r) for r in await conn.execute(sa.select(a).where(a.c.tariff_id == tariff_id))]
    return {**_plain(row), "versions": versions, "assignments": assigned}


async def get_invoice(conn: AsyncConnection, invoice_id: str) -> dict[str, Any] | None:
    """An invoice (or credit note) with its lines, as JSON."""
    i, il = store.invoices, store.invoice_lines
    row = (await conn.execute(sa.select(i).where(i.c.invoice_id == invoice_id))).first()
    if row is None:
        return None
    lines = [_plain(r) for r in await conn.execute(sa.select(il).where(il.c.invoice_id == invoice_id)
                                                    .order_by(il.c.line_no))]
    return {**_plain(row), "lines": lines}


async def list_invoices(
    conn: AsyncConnection, *, operator_id: str | None = None, driver_id: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Invoices and credit notes, by number."""
    i = store.invoices
    query = sa.select(i).order_by(i.c.operator_id, i.c.year, i.c.seq).limit(limit)
    if operator_id is not None:
        query = query.where(i.c.operator_id == operator_id)
    if driver_id is not None:
        query = query.where(i.c.driver_id == driver_id)
    return [_plain(r) for r in await conn.execute(query)]


_TITLES = {"SESSION": "Invoice", "MONTHLY": "Invoice", "CREDIT_NOTE": "Credit note"}


async def render_invoice_html(conn: AsyncConnection, invoice_id: str) -> str | None:
    """A printable HTML document of an invoice or credit note (every value escaped)."""
    invoice = await get_invoice(conn, invoice_id)
    if invoice is None:
        return None
    e, cur = html.escape, html.escape(invoice["currency"])
    rows = "".join(
        f"<tr><td>{e(line['description'])}</td><td class=n>{e(line['quantity'])} {e(line['unit'])}</td>"
        f"<td class=n>{e(line['unit_price'])}</td><td class=n>{e(line['vat_percent'])}%</td>"
        f"<td class=n>{e(line['amount_excl_vat'])} {cur}</td></tr>" for line in invoice["lines"])
    vat_rows = "".join(f"<tr><td>VAT {e(rate)}% on {e(base)} {cur}</td><td class=n>{e(vat)} {cur}</td></tr>"
                       for rate, base, vat in invoice["vat_breakdown"])
    title = _TITLES.get(invoice["kind"], "Invoice")
    corrects = (f"<p>Corrects invoice {e(invoice['corrects_invoice_id'])}: {e(invoice['reason'] or '')}</p>"
                if invoice["corrects_invoice_id"] else "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} {e(invoice['number'])}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;width:100%}}
td,th{{border-bottom:1px solid #ccc;padding:4px}}.n{{text-align:right}}@media print{{body{{margin:0}}}}</style>
</head><body>
<h1>{title} {e(invoice['number'])}</h1>
<p>Operator {e(invoice['operator_id'])} &middot; Driver {e(invoice['driver_id'] or 'ad hoc')} &middot;
Issued {e(invoice['issued_at'])} &middot; Status {e(invoice['status'])}</p>{corrects}
<table><tr><th>Description</th><th class=n>Quantity</th><th class=n>Unit price</th><th class=n>VAT</th>
<th class=n>Amount excl. VAT</th></tr>{rows}</table>
<table>{vat_rows}
<tr><td>Total excl. VAT</td><td class=n>{e(invoice['total_excl_vat'])} {cur}</td></tr>
<tr><td>VAT</td><td class=n>{e(invoice['vat'])} {cur}</td></tr>
<tr><th>Total incl. VAT</th><th class=n>{e(invoice['total_incl_vat'])} {cur}</th></tr></table>
</body></html>
"""


def invoice_pdf(invoice: dict[str, Any]) -> bytes:
    """The printable PDF of an invoice as `get_invoice` returns it (CPU only: run it off the event loop)."""
    return pdf_document(invoice)


async def get_wallet(conn: AsyncConnection, driver_id: str, *, entries: int = 50) -> dict[str, Any] | None:
    """A driver's wallet with its latest ledger entries."""
    w, g = store.wallets, store.ledger
    row = (await conn.execute(sa.select(w).where(w.c.driver_id == driver_id))).first()
    if row is None:
        return None
    recent = [_plain(r) for r in await conn.execute(
        sa.select(g).where(g.c.account == f"wallet:{driver_id}").order_by(g.c.entry_id.desc()).limit(entries))]
    return {**_plain(row), "entries": recent}


async def ledger_check(conn: AsyncConnection) -> dict[str, Any]:
    """Whether the ledger balances (every transaction sums to zero) and wallets agree with their entries."""
    unbalanced = (await conn.execute(sa.text(
        "select count(*) from (select txn_id from billing_ledger group by txn_id having sum(amount) <> 0) x"))).scalar()
    disagreeing = (await conn.execute(sa.text(
        "select count(*) from billing_wallets w where w.balance <> -coalesce((select sum(amount) from billing_ledger "
        "where account = 'wallet:' || w.driver_id), 0)"))).scalar()
    return {"unbalanced_transactions": unbalanced, "wallets_disagreeing": disagreeing,
            "balanced": unbalanced == 0 and disagreeing == 0}

"""Issuing invoices and credit notes in the store, with gapless numbers per operator and year.

A number is taken from the counter row in the same transaction as the invoice
(`update billing_invoice_counters set next = next + n ... returning next`): a rolled-back transaction gives its
numbers back, and the row lock serialises issuers, so numbers have no gap and no duplicate. Credit notes share
the invoices' sequence. Invoices are never updated except for their status.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from processors.billing import store
from processors.billing._rows import insert_rows
from processors.billing.domain.invoice import (
    InvoiceDraft,
    InvoiceLine,
    credit_note,
    draft_invoice,
    invoice_number,
    month_bounds,
    session_supply,
)
from processors.billing.outbound import EVENTS, NS
from processors.billing.session_store import cost_from_json
from processors.runtime import Command, CommandRejected, UnitOfWork


@dataclass(frozen=True)
class NewInvoice:
    kind: str  # SESSION, MONTHLY, CREDIT_NOTE
    operator_id: str
    driver_id: str | None
    draft: InvoiceDraft
    status: str
    session_ids: tuple[str, ...] = ()
    period: str | None = None
    corrects_invoice_id: str | None = None
    reason: str | None = None


_TAKE = sa.text("update billing_invoice_counters set next = next + :n where operator_id = :op and year = :y "
                "returning next")


async def take_numbers(conn: AsyncConnection, operator_id: str, year: int, count: int) -> list[int]:
    """`count` consecutive numbers of the operator's sequence for `year` (gapless within the transaction)."""
    await conn.execute(insert(store.invoice_counters).values(operator_id=operator_id, year=year, next=1)
                       .on_conflict_do_nothing())
    after = int((await conn.execute(_TAKE, {"n": count, "op": operator_id, "y": year})).scalar_one())
    return list(range(after - count, after))


def _lines(invoice_id: str, lines: Sequence[InvoiceLine]) -> list[dict[str, Any]]:
    return [{"invoice_id": invoice_id, "line_no": i, "session_id": line.session_id, "description": line.description,
             "quantity": line.quantity, "unit": line.unit, "unit_price": line.unit_price,
             "amount_excl_vat": line.amount_excl_vat, "vat_percent": line.vat_percent}
            for i, line in enumerate(lines, start=1)]


async def issue(uow: UnitOfWork, items: Sequence[NewInvoice], now: datetime | None = None) -> list[str]:
    """Number, store and announce invoices (InvoiceIssued / CreditNoteIssued); returns their ids."""
    now = now or datetime.now(UTC)
    ids: list[str] = []
    by_operator: dict[str, list[NewInvoice]] = {}
    for item in items:
        by_operator.setdefault(item.operator_id, []).append(item)
    rows, lines = [], []
    for operator_id in sorted(by_operator):  # a fixed order of counter locks: no deadlock between issuers
        group = by_operator[operator_id]
        for item, seq in zip(group, await take_numbers(uow.conn, operator_id, now.year, len(group)), strict=True):
            invoice_id = str(uuid.uuid4())
            ids.append(invoice_id)
            d, number = item.draft, invoice_number(operator_id, now.year, seq)
            rows.append({"invoice_id": invoice_id, "number": number, "operator_id": operator_id, "year": now.year,
                         "seq": seq, "kind": item.kind, "driver_id": item.driver_id,
                         "corrects_invoice_id": item.corrects_invoice_id, "currency": d.currency,
                         "total_excl_vat": d.total_excl_vat, "vat": d.vat, "total_incl_vat": d.total_incl_vat,
                         "vat_breakdown": [[str(r), str(b), str(v)] for r, b, v in d.vat_breakdown],
                         "status": item.status, "period": item.period, "reason": item.reason, "issued_at": now})
            lines += _lines(invoice_id, d.lines)
            _announce(uow, item, invoice_id, number, now)
    await insert_rows(uow.conn, store.invoices, rows)
    await insert_rows(uow.conn, store.invoice_lines, lines)
    return ids


def _announce(uow: UnitOfWork, item: NewInvoice, invoice_id: str, number: str, now: datetime) -> None:
    d = item.draft
    totals = {"currency": d.currency, "total_excl_vat": str(d.total_excl_vat), "vat": str(d.vat),
              "total_incl_vat": str(d.total_incl_vat)}
    if item.kind == "CREDIT_NOTE":
        assert item.corrects_invoice_id is not None
        uow.emit(EVENTS, item.corrects_invoice_id, NS + "CreditNoteIssued", {
            "credit_note_id": invoice_id, "number": number, "invoice_id": item.corrects_invoice_id,
            "operator_id": item.operator_id, "reason": item.reason or "", "issued_at": now, **totals})
        return
    uow.emit(EVENTS, invoice_id, NS + "InvoiceIssued", {
        "invoice_id": invoice_id, "number": number, "operator_id": item.operator_id, "driver_id": item.driver_id,
        "kind": item.kind, "status": item.status, "issued_at": now, "session_ids": list(item.session_ids), **totals})


async def load_draft(conn: AsyncConnection, invoice_id: str) -> tuple[Any, InvoiceDraft] | None:
    """An issued invoice's row and its lines and totals as a draft."""
    row = (await conn.execute(sa.select(store.invoices).where(store.invoices.c.invoice_id == invoice_id)
                              .with_for_update())).first()
    if row is None:
        return None
    il = store.invoice_lines
    query = sa.select(il).where(il.c.invoice_id == invoice_id).order_by(il.c.line_no)
    lines = tuple(InvoiceLine(r.description, r.quantity, r.unit, r.unit_price, r.amount_excl_vat, r.vat_percent,
                              r.session_id) for r in await conn.execute(query))
    breakdown = tuple((Decimal(r), Decimal(b), Decimal(v)) for r, b, v in row.vat_breakdown)
    return row, InvoiceDraft(row.currency, lines, breakdown, row.total_excl_vat, row.vat, row.total_incl_vat)


async def set_status(uow: UnitOfWork, invoice_id: str, status: str, reason: str | None = None) -> None:
    """Change an invoice's status (the only change an issued invoice ever gets) and announce it."""
    await uow.conn.execute(sa.update(store.invoices).where(store.invoices.c.invoice_id == invoice_id)
                           .values(status=status, updated_at=sa.func.now()))
    uow.emit(EVENTS, invoice_id, NS + "InvoiceStatusChanged",
             {"invoice_id": invoice_id, "status": status, "changed_at": datetime.now(UTC), "reason": reason})


async def issue_credit_note(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """IssueCreditNote {invoice_id, reason} -> CREATED {credit_note_id, number}: the full correction; the
    invoice becomes VOID (unpaid) or REFUNDED (paid). CONFLICT if it was corrected already."""
    invoice_id, reason = command.payload.get("invoice_id"), command.payload.get("reason")
    if not isinstance(invoice_id, str) or not isinstance(reason, str) or not reason:
        raise CommandRejected("INVALID", "needs invoice_id and a reason")
    loaded = await load_draft(uow.conn, invoice_id)
    if loaded is None:
        raise CommandRejected("NOT_FOUND", f"no invoice {invoice_id}")
    row, draft = loaded
    if row.kind == "CREDIT_NOTE" or row.status in ("VOID", "REFUNDED"):
        raise CommandRejected("CONFLICT", f"invoice {invoice_id} is {row.kind} {row.status}")
    note = NewInvoice("CREDIT_NOTE", row.operator_id, row.driver_id, credit_note(draft), "ISSUED",
                      corrects_invoice_id=invoice_id, reason=reason)
    (note_id,) = await issue(uow, [note])
    await set_status(uow, invoice_id, "REFUNDED" if row.status == "PAID" else "VOID", reason)
    number = (await uow.conn.execute(sa.select(store.invoices.c.number)
                                     .where(store.invoices.c.invoice_id == note_id))).scalar_one()
    return "CREATED", {"credit_note_id": note_id, "number": number, "invoice_id": invoice_id}


_MONTH = sa.text("""
    select session_id, driver_id, currency, cost, wallet_entry_id from billing_sessions
    where operator_id = :op and driver_id is not null and billable and invoice_id is null and cost is not null
      and stopped_at >= :start and stopped_at < :end
    order by driver_id, currency, stopped_at, session_id for update
""")


async def generate_monthly_invoices(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """GenerateMonthlyInvoices {operator_id, year, month} -> OK {issued, invoice_ids}: one invoice per member
    driver and currency over the month's billable sessions not invoiced yet (so re-running issues nothing new).
    PAID when every session was paid from the wallet, else PENDING. Months are UTC."""
    p = command.payload
    try:
        operator_id, year, month = str(p["operator_id"]), int(p["year"]), int(p["month"])
        start, end = month_bounds(year, month, UTC)
    except (KeyError, TypeError, ValueError):
        raise CommandRejected("INVALID", "needs operator_id, year and month (1-12)") from None
    groups: dict[tuple[str, str], list[Any]] = {}
    for r in await uow.conn.execute(_MONTH, {"op": operator_id, "start": start, "end": end}):
        groups.setdefault((r.driver_id, r.currency), []).append(r)
    items = []
    for (driver_id, currency), rows in groups.items():
        supplies = [session_supply(r.session_id, cost_from_json(r.cost), detailed=False) for r in rows]
        status = "PAID" if all(r.wallet_entry_id for r in rows) else "PENDING"
        items.append(NewInvoice("MONTHLY", operator_id, driver_id, draft_invoice(currency, supplies), status,
                                tuple(r.session_id for r in rows), period=f"{year:04d}-{month:02d}"))
    ids = await issue(uow, items)
    await mark_invoiced(uow.conn, {sid: iid for item, iid in zip(items, ids, strict=True) for sid in item.session_ids})
    return "OK", {"issued": len(ids), "invoice_ids": ids}


async def mark_invoiced(conn: AsyncConnection, invoice_of: dict[str, str]) -> None:
    """Link sessions to their invoice (a new etag, so cached copies are reloaded)."""
    if invoice_of:
        await conn.execute(sa.text(
            "update billing_sessions s set invoice_id = x.i, etag = md5(random()::text), updated_at = now() "
            "from unnest(cast(:s as text[]), cast(:i as text[])) as x(s, i) where s.session_id = x.s"),
            {"s": list(invoice_of), "i": list(invoice_of.values())})

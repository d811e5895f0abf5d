"""Invoices and credit notes (billing store): JSON and the printable HTML document; payment and corrections are
commands on `billing.commands`."""

from __future__ import annotations

import asyncio
import re
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from processors.billing import queries as bq
from read_api.auth import Admin, Anyone, Principal, Staff, driver_scope, own_driver
from read_api.deps import api_state
from read_api.errors import NotFound
from read_api.models import ERRORS
from read_api.pagination import windowed
from read_api.responses import etagged
from read_api.routes._common import Cursor, Limit, OptionalPayload, Payload, Sort, command, merged

router = APIRouter(prefix="/api/v1/invoices", tags=["invoices"], responses=ERRORS)
SORTABLE = ("number", "issued_at", "total_incl_vat", "status", "driver_id")


async def _invoice(request: Request, invoice_id: str, principal: Principal) -> dict[str, Any]:
    async with api_state(request).db.read("billing") as conn:
        invoice = await bq.get_invoice(conn, invoice_id)
    if invoice is None:
        raise NotFound(f"invoice {invoice_id}")
    own_driver(principal, invoice.get("driver_id"))
    return invoice


@router.get("", summary="Invoices and credit notes by number (a driver sees only their own)")
async def list_invoices(request: Request, principal: Anyone, operator_id: str | None = None,
                        driver_id: str | None = None, status: str | None = None, sort: Sort = None,
                        cursor: Cursor = None, limit: Limit = 50) -> Response:
    driver = driver_scope(principal, driver_id)

    async def fetch(n: int) -> list[dict[str, Any]]:
        async with api_state(request).db.read("billing") as conn:
            return await bq.list_invoices(conn, operator_id=operator_id, driver_id=driver, limit=n)

    keep = (lambda r: r.get("status") == status) if status else None
    return await windowed(fetch, cursor, limit, keep=keep, sort=sort, sortable=SORTABLE)


@router.get("/{invoice_id}", summary="One invoice with its lines (ETag)")
async def get_invoice(request: Request, invoice_id: str, principal: Anyone) -> Response:
    return etagged(request, await _invoice(request, invoice_id, principal))


def _file_name(number: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", number)


@router.get("/{invoice_id}/document", summary="The printable invoice: HTML, or PDF with ?format=pdf",
            response_class=HTMLResponse, responses={200: {"content": {"application/pdf": {}}}})
async def invoice_document(request: Request, invoice_id: str, principal: Anyone,
                           format: Literal["html", "pdf"] = "html") -> Response:
    invoice = await _invoice(request, invoice_id, principal)
    if format == "pdf":
        document = await asyncio.to_thread(bq.invoice_pdf, invoice)
        return Response(document, media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{_file_name(invoice["number"])}.pdf"'})
    async with api_state(request).db.read("billing") as conn:
        html = await bq.render_invoice_html(conn, invoice_id)
    if html is None:
        raise NotFound(f"invoice {invoice_id}")
    return HTMLResponse(html)


@router.post("/{invoice_id}/payments", summary="Start a card payment (PayInvoice; a driver pays their own)")
async def pay(request: Request, invoice_id: str, principal: Anyone, body: OptionalPayload = None) -> Response:
    await _invoice(request, invoice_id, principal)
    return await command(request, principal, "billing", "PayInvoice", invoice_id,
                         merged(body, invoice_id=invoice_id))


@router.post("/{invoice_id}/credit-notes", summary="Correct an invoice in full (IssueCreditNote)")
async def credit_note(request: Request, invoice_id: str, body: Payload, principal: Staff) -> Response:
    return await command(request, principal, "billing", "IssueCreditNote", invoice_id,
                         merged(body, invoice_id=invoice_id))


@router.post("/monthly-runs", summary="Issue monthly invoices (GenerateMonthlyInvoices {operator_id, year, month})")
async def monthly(request: Request, body: Payload, principal: Admin) -> Response:
    return await command(request, principal, "billing", "GenerateMonthlyInvoices",
                         str(body.get("operator_id") or "default"), body)

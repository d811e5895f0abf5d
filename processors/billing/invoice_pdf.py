"""The printable PDF of an invoice or credit note (fpdf2, pure Python), the same content as the HTML document.

It uses the PDF core font Helvetica, which every viewer has, so nothing is embedded and no font file is needed;
the core fonts encode Latin-1 only, so any other character (none of the values the billing store writes today)
is printed as "?". Amounts are the stored Decimal strings, never reformatted through a float.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

_TITLES = {"SESSION": "Invoice", "MONTHLY": "Invoice", "CREDIT_NOTE": "Credit note"}
_LINE_COLUMNS = (80, 30, 25, 15, 40)  # mm: description, quantity, unit price, VAT, amount (A4 minus margins)


def _latin1(value: object) -> str:
    return str(value).encode("latin-1", "replace").decode("latin-1")


def _issued(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def pdf_document(invoice: dict[str, Any]) -> bytes:
    """A PDF document of an invoice (`queries.get_invoice`'s JSON: lines, VAT breakdown, totals)."""
    title = f"{_TITLES.get(invoice['kind'], 'Invoice')} {invoice['number']}"
    cur = invoice["currency"]
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(title))
    pdf.set_creation_date(_issued(invoice.get("issued_at")))  # the same invoice always gives the same bytes
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=16)
    pdf.cell(0, 10, _latin1(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=10)
    about = (f"Operator {invoice['operator_id']} - Driver {invoice.get('driver_id') or 'ad hoc'} - "
             f"Issued {invoice['issued_at']} - Status {invoice['status']}")
    pdf.multi_cell(0, 6, _latin1(about), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if invoice.get("corrects_invoice_id"):
        corrects = f"Corrects invoice {invoice['corrects_invoice_id']}: {invoice.get('reason') or ''}"
        pdf.multi_cell(0, 6, _latin1(corrects), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    with pdf.table(col_widths=_LINE_COLUMNS, text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
                   line_height=6) as table:
        table.row(["Description", "Quantity", "Unit price", "VAT", "Amount excl. VAT"])
        for line in invoice["lines"]:
            table.row([_latin1(line["description"]), _latin1(f"{line['quantity']} {line['unit']}"),
                       _latin1(line["unit_price"]), _latin1(f"{line['vat_percent']}%"),
                       _latin1(f"{line['amount_excl_vat']} {cur}")])
    pdf.ln(4)
    totals = [(f"VAT {rate}% on {base} {cur}", f"{vat} {cur}") for rate, base, vat in invoice["vat_breakdown"]]
    totals += [("Total excl. VAT", f"{invoice['total_excl_vat']} {cur}"), ("VAT", f"{invoice['vat']} {cur}"),
               ("Total incl. VAT", f"{invoice['total_incl_vat']} {cur}")]
    for n, (label, amount) in enumerate(totals):
        pdf.set_font("Helvetica", style="B" if n == len(totals) - 1 else "", size=10)
        pdf.cell(150, 7, _latin1(label))
        pdf.cell(40, 7, _latin1(amount), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())

"""The invoice PDF: a valid PDF whose text has the number, every line, the VAT breakdown and the totals."""

from __future__ import annotations

import re
import zlib

from processors.billing.queries import invoice_pdf

INVOICE = {
    "invoice_id": "i-1", "number": "op-1-2026-000042", "kind": "CREDIT_NOTE", "operator_id": "op-1",
    "driver_id": None, "corrects_invoice_id": "i-0", "reason": "meter fault \u2013 refund", "currency": "EUR",
    "issued_at": "2026-12-03T10:00:00+00:00", "status": "PENDING", "total_excl_vat": "-4.50", "vat": "-0.86",
    "total_incl_vat": "-5.36", "vat_breakdown": [["19", "-4.50", "-0.86"]],
    "lines": [{"description": "Charging session CS-1:42", "quantity": "10.000", "unit": "kWh",
               "unit_price": "0.40", "vat_percent": "19", "amount_excl_vat": "-4.00"},
              {"description": "Session fee", "quantity": "1", "unit": "session", "unit_price": "0.50",
               "vat_percent": "19", "amount_excl_vat": "-0.50"}],
}


def pdf_text(document: bytes) -> str:
    """The text shown by a PDF's (Flate-compressed) content streams."""
    shown = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", document, re.S):
        try:
            content = zlib.decompress(stream)
        except zlib.error:
            continue
        shown += [m.decode("latin-1") for m in re.findall(rb"\((.*?)(?<!\\)\)\s*Tj", content)]
    return " ".join(shown)


def test_an_invoice_pdf_shows_number_lines_vat_and_totals() -> None:
    document = invoice_pdf(INVOICE)
    assert document.startswith(b"%PDF-") and document.rstrip().endswith(b"%%EOF")
    text = pdf_text(document)
    for shown in ("Credit note op-1-2026-000042", "Corrects invoice i-0: meter fault ? refund",
                  "Charging session CS-1:42", "10.000 kWh", "-4.00 EUR", "Session fee",
                  "VAT 19% on -4.50 EUR", "-0.86 EUR", "Total incl. VAT", "-5.36 EUR"):
        assert shown in text, shown
    assert invoice_pdf(INVOICE) == document  # the same invoice gives the same bytes

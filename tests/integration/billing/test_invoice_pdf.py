"""The invoice document route serves the PDF next to the HTML: an ad-hoc session priced and invoiced by the billing
processor, then fetched from the read API as HTML and as PDF."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.billing import _support as s
from tests.read_api_env import running_api
from tests.unit.billing.test_billing_invoice_pdf import pdf_text

pytestmark = pytest.mark.integration
TARIFF = {"currency": "EUR", "vat_percent": "19", "elements": [
    {"price_components": [{"type": "FLAT", "price": "0.50"}]},
    {"price_components": [{"type": "ENERGY", "price": "0.40", "step_size": 1}]}]}


async def test_the_invoice_document_is_served_as_html_and_as_pdf(real_infra):
    station = f"CS-{uuid.uuid4().hex[:6]}"
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)
    async with running_api(real_infra) as api:
        url = api.urls["billing"]
        async with s.billing(api.settings.kafka, url) as p:
            await p.command("CreateTariff", {"id": "T", **TARIFF}, "T")
            await p.command("AssignTariff", {"scope": "OPERATOR_DEFAULT", "key": "", "tariff_id": "T"}, "T")
            await s.until(url, "select 1 from billing_tariff_assignments")
            await p.exchange(station, "ocpp1.6", "StartTransaction",
                             {"connectorId": 1, "idTag": "ADHOC", "meterStart": 0, "timestamp": t0.isoformat()},
                             {"transactionId": 5, "idTagInfo": {"status": "Accepted"}}, t0)
            await p.exchange(station, "ocpp1.6", "StopTransaction",
                             {"transactionId": 5, "meterStop": 10000, "reason": "Local",
                              "timestamp": (t0 + timedelta(minutes=30)).isoformat()}, {}, t0 + timedelta(minutes=30))
            (invoice,) = await s.until(url, "select invoice_id, number from billing_invoices")
        token = await api.login()
        async with api.client(token) as c:
            path = f"/api/v1/invoices/{invoice['invoice_id']}/document"
            html = await c.get(path)
            pdf = await c.get(path, params={"format": "pdf"})
            missing = await c.get("/api/v1/invoices/nope/document", params={"format": "pdf"})
            bad = await c.get(path, params={"format": "docx"})

    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert invoice["number"] in html.text
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == f'inline; filename="{invoice["number"]}.pdf"'
    text = pdf_text(pdf.content)
    for shown in (f"Invoice {invoice['number']}", "Driver ad hoc", "kWh", "0.50 EUR", "4.00 EUR",
                  "VAT 19% on 4.50 EUR", "0.86 EUR", "5.36 EUR"):
        assert shown in text, shown
    assert (missing.status_code, bad.status_code) == (404, 422)

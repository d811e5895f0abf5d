"""The billing processor on the real broker and database: OCPP 1.6 and 2.0.1 transactions to priced,
stored sessions, invoices and wallet charges; replays change nothing; tariff changes never re-price."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from tests.integration.billing import _support as s

pytestmark = pytest.mark.integration
TARIFF = {"currency": "EUR", "vat_percent": "19", "elements": [
    {"price_components": [{"type": "FLAT", "price": "0.50"}]},
    {"price_components": [{"type": "ENERGY", "price": "0.40", "step_size": 1}]}]}


async def _tariff(p: s.Producer, url: str, tariff_id: str, body: dict, scope: str = "OPERATOR_DEFAULT",
                  key: str = "") -> None:
    await p.command("CreateTariff", {"id": tariff_id, **body}, tariff_id)
    await p.command("AssignTariff", {"scope": scope, "key": key, "tariff_id": tariff_id}, tariff_id)
    await s.until(url, "select 1 from billing_tariff_assignments where tariff_id = $1", tariff_id)


def _mv(at: datetime, wh: int) -> dict:
    sampled = {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
    return {"timestamp": at.isoformat(), "sampledValue": [sampled]}


async def test_a_v16_session_is_priced_stored_invoiced_and_replays_change_nothing(kafka_settings, fresh_database):
    url, station = fresh_database, f"CS-{uuid.uuid4().hex[:6]}"
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)
    async with s.billing(kafka_settings, url) as p:
        await _tariff(p, url, "T16", TARIFF)
        start = {"connectorId": 1, "idTag": "ADHOC", "meterStart": 1000, "timestamp": t0.isoformat()}
        await p.exchange(station, "ocpp1.6", "StartTransaction", start,
                         {"transactionId": 42, "idTagInfo": {"status": "Accepted"}}, t0)
        meter = {"connectorId": 1, "transactionId": 42, "meterValue": [_mv(t0 + timedelta(minutes=20), 6000)]}
        meter_id = await p.exchange(station, "ocpp1.6", "MeterValues", meter, {}, t0 + timedelta(minutes=20))
        stop = {"transactionId": 42, "meterStop": 11000, "timestamp": (t0 + timedelta(minutes=30)).isoformat(),
                "reason": "EVDisconnected", "transactionData": [_mv(t0 + timedelta(minutes=10), 3000)]}
        await p.exchange(station, "ocpp1.6", "StopTransaction", stop, {}, t0 + timedelta(minutes=30))
        (session,) = await s.until(url, "select * from billing_sessions where invoice_id is not null")
        # replays: the same event again, and the simulator's second identical stop (a new event id)
        await p.exchange(station, "ocpp1.6", "MeterValues", meter, {}, t0 + timedelta(minutes=20), event_id=meter_id)
        await p.exchange(station, "ocpp1.6", "StopTransaction", stop, {}, t0 + timedelta(minutes=31))
        await p.command("UpdateTariff", {"id": "T16", **TARIFF, "elements": [
            {"price_components": [{"type": "ENERGY", "price": "9.99"}]}]}, "T16")
        await s.until(url, "select 1 from billing_tariff_versions where version = 2")
        await s.until(url, "select 1 from billing_session_inputs having count(*) = 4")
        await asyncio.sleep(0.5)
        (again,) = await s.fetch(url, "select * from billing_sessions")
        invoices = await s.fetch(url, "select * from billing_invoices")
        lines = await s.fetch(url, "select * from billing_invoice_lines order by line_no")

    assert session["session_id"] == f"{station}:42"
    assert (session["status"], session["ended"], session["energy_wh"]) == ("COMPLETED", True, Decimal(10000))
    assert (session["tariff_id"], session["tariff_version"]) == ("T16", 1)
    cost = session["cost"] if isinstance(session["cost"], dict) else orjson.loads(session["cost"])
    assert [(c["dimension"], c["amount"]) for c in cost["components"]] == [("FLAT", "0.50"), ("ENERGY", "4.00")]
    assert (cost["total_excl_vat"], cost["vat"], cost["total_incl_vat"]) == ("4.50", "0.86", "5.36")
    for column in ("status", "energy_wh", "cost", "tariff_version", "total_incl_vat", "invoice_id"):
        assert again[column] == session[column], column
    (invoice,) = invoices
    assert invoice["number"] == f"default-{datetime.now(UTC).year}-000001"
    assert (invoice["kind"], invoice["status"], invoice["total_incl_vat"]) == ("SESSION", "PENDING", Decimal("5.36"))
    assert sum(line["amount_excl_vat"] for line in lines) == invoice["total_excl_vat"]


async def test_a_v201_session_of_a_member_is_paid_from_the_wallet_and_invoiced_monthly(kafka_settings, fresh_database):
    url, station = fresh_database, f"CS-{uuid.uuid4().hex[:6]}"
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)
    async with s.billing(kafka_settings, url) as p:
        await p.send("auth.tokens", "ISO14443:TOK1", "csms.authorization.TokenState", {
            "id_token": "TOK1", "token_type": "ISO14443", "status": "ACTIVE", "driver_id": "driver-1",
            "group_id": "fleet", "version": 1, "updated_at": t0})
        await _tariff(p, url, "FLEET", TARIFF, scope="DRIVER_GROUP", key="fleet")
        await p.command("TopUpWallet", {"driver_id": "driver-1", "amount": "50.00", "currency": "EUR"}, "driver-1")
        await s.until(url, "select 1 from billing_tokens where driver_id = 'driver-1'")
        await s.until(url, "select 1 from billing_wallets where balance = 50")

        def event(kind: str, seq: int, minute: int, wh: int, **info: object) -> dict:
            at = t0 + timedelta(minutes=minute)
            return {"eventType": kind, "timestamp": at.isoformat(), "triggerReason": "MeterValuePeriodic",
                    "seqNo": seq, "transactionInfo": {"transactionId": "tx-1", **info},
                    "idToken": {"idToken": "TOK1", "type": "ISO14443"}, "evse": {"id": 1, "connectorId": 1},
                    "meterValue": [{"timestamp": at.isoformat(), "sampledValue": [
                        {"value": wh / 1000, "measurand": "Energy.Active.Import.Register",
                         "unitOfMeasure": {"unit": "kWh"}}]}]}

        accepted = {"idTokenInfo": {"status": "Accepted"}}
        for kind, seq, minute, wh, info in [("Started", 0, 0, 2000, {"chargingState": "Charging"}),
                                            ("Updated", 1, 15, 7000, {}),
                                            ("Ended", 2, 30, 12000, {"stoppedReason": "Local"})]:
            await p.exchange(station, "ocpp2.0.1", "TransactionEvent", event(kind, seq, minute, wh, **info),
                             accepted, t0 + timedelta(minutes=minute))
        (session,) = await s.until(url, "select * from billing_sessions where wallet_entry_id is not null")
        stopped = session["stopped_at"]
        await p.command("GenerateMonthlyInvoices", {"operator_id": "default", "year": stopped.year,
                                                    "month": stopped.month})
        (invoice,) = await s.until(url, "select * from billing_invoices where kind = 'MONTHLY'")
        (wallet,) = await s.fetch(url, "select * from billing_wallets")
        ledger = await s.fetch(url, "select sum(amount) as total from billing_ledger")

    assert (session["driver_id"], session["tariff_id"], session["energy_wh"]) == ("driver-1", "FLEET", Decimal(10000))
    assert session["total_incl_vat"] == Decimal("5.36")
    assert wallet["balance"] == Decimal("44.64")
    assert ledger[0]["total"] == 0
    assert (invoice["driver_id"], invoice["status"], invoice["total_incl_vat"]) == ("driver-1", "PAID", Decimal("5.36"))

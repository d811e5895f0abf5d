"""Processor pieces without I/O: tariff payload validation, the webhook signature, input re-translation."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest

from processors.billing.payments import InvalidSignature, LocalProvider
from processors.billing.session_store import InputRow, cost_from_json, cost_to_json, to_input
from processors.billing.tariffs import tariff_from_body, validate
from processors.runtime import CommandRejected

BODY = {"currency": "EUR", "vat_percent": "19", "time_zone": "Europe/Berlin", "membership_discounts": {"GOLD": "10"},
        "elements": [{"price_components": [{"type": "ENERGY", "price": "0.39", "step_size": 1}],
                      "restrictions": {"start_time": "22:00", "end_time": "06:00"}},
                     {"price_components": [{"type": "ENERGY", "price": "0.49"}]}]}


def test_a_valid_tariff_payload_becomes_a_tariff_version() -> None:
    tariff = tariff_from_body("T", 3, validate("T", BODY))
    assert (tariff.id, tariff.version, tariff.vat_percent) == ("T", 3, Decimal(19))
    assert tariff.elements[0].price_components[0].price == Decimal("0.39")
    assert tariff.discount_percent("GOLD") == Decimal(10)


@pytest.mark.parametrize(("change", "reason"), [
    ({"elements": [{"price_components": [{"type": "ENERGY", "price": 0.39}]}]}, "decimal string"),
    ({"elements": [{"price_components": [{"type": "ENERGY", "price": "abc"}]}]}, "not a decimal"),
    ({"currency": "euro"}, "ISO 4217"),
    ({"elements": []}, "at least one element"),
    ({"elements": [{"price_components": [{"type": "KWH", "price": "1"}]}]}, "invalid tariff"),
    ({"time_zone": "Mars/Olympus"}, "invalid tariff"),
])
def test_invalid_tariff_payloads_are_rejected_with_a_reason(change, reason) -> None:
    with pytest.raises(CommandRejected, match=reason) as caught:
        validate("T", {**BODY, **change})
    assert caught.value.status == "INVALID"


def test_webhooks_are_verified_by_hmac_and_timestamp() -> None:
    provider = LocalProvider(b"secret")
    intent = provider.create_payment("p1", Decimal("5.36"), "EUR")
    headers, body = provider.capture_webhook(intent)
    event = provider.verify_webhook(headers, body)
    assert (event.payment_id, event.amount, event.currency) == ("p1", Decimal("5.36"), "EUR")
    with pytest.raises(InvalidSignature, match="mismatch"):
        provider.verify_webhook(headers, body.replace(b"5.36", b"0.01"))
    with pytest.raises(InvalidSignature, match="mismatch"):
        LocalProvider(b"other").verify_webhook(headers, body)
    with pytest.raises(InvalidSignature, match="tolerance"):
        provider.verify_webhook(provider.sign(body, int(time.time()) - 3600), body)
    with pytest.raises(InvalidSignature, match="malformed"):
        provider.verify_webhook({}, body)


def test_a_stored_input_translates_to_the_same_input_again() -> None:
    request = {"connectorId": 2, "idTag": "A", "meterStart": 10, "timestamp": "2026-01-01T10:00:00Z"}
    row = InputRow("e1", "CS:7", "CS", "ocpp1.6", "StartTransaction", orjson.dumps(request).decode(),
                   orjson.dumps({"transactionId": 7, "idTagInfo": {"status": "Accepted"}}).decode(),
                   datetime(2026, 1, 1, 10, tzinfo=UTC), "driver")
    tx = to_input(row)
    assert tx == to_input(row)
    assert tx is not None and (tx.transaction_id, tx.evse_id, tx.driver_id, tx.authorized) == ("7", 2, "driver", True)


def test_a_cost_survives_its_json_form() -> None:
    from processors.billing.domain import CostBreakdown, CostComponent, Dimension, TariffRef

    cost = CostBreakdown(TariffRef("T", 2), "EUR", (CostComponent(Dimension.ENERGY, 0, Decimal(1500), Decimal("0.4"),
                                                                  Decimal("0.60")),),
                         Decimal("0.60"), Decimal(0), Decimal("0.00"), Decimal("0.60"), Decimal(19), Decimal("0.11"),
                         Decimal("0.71"), datetime(2026, 1, 1, tzinfo=UTC))
    assert cost_from_json(orjson.loads(orjson.dumps(cost_to_json(cost)))) == cost

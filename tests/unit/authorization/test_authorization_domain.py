"""The authorization domain, pure (no I/O)."""

from __future__ import annotations

import pydantic
import pytest

from processors.authorization import payloads
from processors.authorization.domain import (
    AuthorizationError,
    decision_of,
    published_status,
    split_token_key,
    token_key,
    token_transition,
)


@pytest.mark.parametrize(("current", "action", "target"), [
    ("ACTIVE", "block", "BLOCKED"), ("BLOCKED", "block", "BLOCKED"), ("BLOCKED", "unblock", "ACTIVE"),
    ("ACTIVE", "unblock", "ACTIVE"), ("ACTIVE", "expire", "EXPIRED"), ("BLOCKED", "expire", "EXPIRED"),
    ("EXPIRED", "report_lost", "LOST"), ("ACTIVE", "report_lost", "LOST"),
])
def test_token_transitions(current, action, target):
    assert token_transition(current, action) == target


@pytest.mark.parametrize(("current", "action"), [("LOST", "unblock"), ("EXPIRED", "unblock"), ("LOST", "block"),
                                                 ("LOST", "expire"), ("EXPIRED", "block")])
def test_refused_token_transitions(current, action):
    with pytest.raises(AuthorizationError) as err:
        token_transition(current, action)
    assert err.value.status == "CONFLICT"


def test_what_the_edge_is_told():
    assert published_status("ACTIVE", deleted=False, driver_status="ACTIVE") == "ACTIVE"
    assert published_status("ACTIVE", deleted=False, driver_status=None) == "ACTIVE"
    assert published_status("ACTIVE", deleted=False, driver_status="SUSPENDED") == "BLOCKED"
    assert published_status("LOST", deleted=False, driver_status="DELETED") == "LOST"
    assert published_status("ACTIVE", deleted=True, driver_status="ACTIVE") == "INVALID"


def test_token_keys():
    assert token_key("ISO14443", "04A2B3C4") == "ISO14443:04A2B3C4"
    assert split_token_key("eMAID:DE*ABC*1:2") == ("eMAID", "DE*ABC*1:2")
    for bad in ("nocolon", "Barcode:1", "ISO14443:"):
        with pytest.raises(AuthorizationError):
            split_token_key(bad)


def test_decisions_of_16_answers():
    start = decision_of("StartTransaction", True, {"idTag": "AB"},
                        {"idTagInfo": {"status": "Blocked"}, "transactionId": 5})
    assert start is not None and (start.token_key, start.outcome, start.transaction_id) == (
        "ISO14443:AB", "Blocked", "5")
    stop = decision_of("StopTransaction", True, {"idTag": "AB", "transactionId": 5},
                       {"idTagInfo": {"status": "Accepted"}})
    assert stop is not None and stop.transaction_id == "5"
    assert decision_of("StopTransaction", True, {"transactionId": 5}, {}) is None


def test_decisions_of_2x_answers():
    event = decision_of("TransactionEvent", False, {"idToken": {"idToken": "X1", "type": "Central"},
                                                    "transactionInfo": {"transactionId": "t"}},
                        {"idTokenInfo": {"status": "Accepted"}})
    assert event is not None and (event.token_key, event.transaction_id) == ("Central:X1", "t")
    assert decision_of("TransactionEvent", False, {"transactionInfo": {"transactionId": "t"}}, {}) is None


def test_payload_validation():
    caps = payloads.Caps.model_validate({"money_per_session": "12.50", "currency": "EUR"})
    assert str(caps.money_per_session) == "12.50"
    hours = payloads.HoursWindow.model_validate({"days": [5, 1, 1], "start": "07:00", "end": "19:00"})
    assert hours.days == [1, 5]
    for model, bad in ((payloads.Caps, {"money_per_month": 10}), (payloads.HoursWindow, {"days": [8], "start": "07:00",
                                                                                          "end": "08:00"}),
                       (payloads.CreateDriver, {"name": "A", "email": "not-an-email"}),
                       (payloads.IssueToken, {"id_token": "1", "token_type": "Barcode"}),
                       (payloads.IssueToken, {"id_token": "1", "expires_at": "2026-01-01T00:00:00"})):
        with pytest.raises(pydantic.ValidationError):
            model.model_validate(bad)

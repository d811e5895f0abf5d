"""Billing terms, pure parts: which connector type a session's EVSE/connector has, and which budget cap wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from processors.billing.domain import BudgetCaps
from processors.billing.terms import MonthUsed, connector_type_of, month_start, session_caps

TYPES = {"1/1": "CCS2", "1/2": "CCS1", "2/1": "TYPE_2", "3/1": "TYPE_2", "3/2": "TYPE_2"}


def test_a_connector_type_is_the_exact_connector_else_the_one_type_of_the_evse() -> None:
    assert connector_type_of(TYPES, 1, 2) == "CCS1"
    assert connector_type_of(TYPES, 2, None) == "TYPE_2"  # a 2.x session naming only its EVSE
    assert connector_type_of(TYPES, 3, None) == "TYPE_2"  # two connectors, one type
    assert connector_type_of(TYPES, 1, None) is None  # two types on the EVSE: ambiguous
    assert connector_type_of(TYPES, 2, 9) == "TYPE_2"  # connector unknown to the registry: the EVSE's one type
    assert connector_type_of(TYPES, 4, 1) is None
    assert connector_type_of(TYPES, None, None) is None
    assert connector_type_of({}, 1, 1) is None


def _row(**values: Any) -> SimpleNamespace:
    fields = ("max_energy_wh", "max_duration_s", "max_amount", "cap_energy_wh_per_session",
              "cap_seconds_per_session", "cap_money_per_session", "cap_currency", "cap_energy_wh_per_month",
              "cap_seconds_per_month", "cap_money_per_month")
    return SimpleNamespace(**{f: values.get(f) for f in fields})


def test_billing_overrides_win_field_by_field_over_the_caps_of_auth_tokens() -> None:
    auth = {"cap_energy_wh_per_session": 5000, "cap_seconds_per_session": 3600,
            "cap_money_per_session": Decimal("20.00"), "cap_currency": "EUR"}
    assert session_caps(_row(**auth), "EUR") == BudgetCaps(Decimal(5000), 3600, Decimal("20.00"))
    assert session_caps(_row(**auth, max_energy_wh=Decimal(90000)), "EUR") == BudgetCaps(
        Decimal(90000), 3600, Decimal("20.00"))
    assert session_caps(_row(**auth, max_amount=Decimal("5")), "EUR").max_amount == Decimal("5")
    assert session_caps(_row(), "EUR") == BudgetCaps()


def test_a_money_cap_of_auth_tokens_applies_only_in_its_currency() -> None:
    auth = {"cap_money_per_session": Decimal("20.00"), "cap_currency": "EUR"}
    assert session_caps(_row(**auth), "CHF").max_amount is None
    assert session_caps(_row(**auth), None).max_amount is None  # no tariff yet: no price to compare
    assert session_caps(_row(**auth, max_amount=Decimal("7")), "CHF").max_amount == Decimal("7")


def test_monthly_caps_lower_the_session_caps_to_what_the_month_leaves() -> None:
    month = MonthUsed(energy_wh=Decimal(15000), seconds=Decimal(3000), money=Decimal("18.00"))
    row = _row(cap_energy_wh_per_session=8000, cap_money_per_session=Decimal("10.00"), cap_currency="EUR",
               cap_energy_wh_per_month=20000, cap_seconds_per_month=3600, cap_money_per_month=Decimal("25.00"))
    assert session_caps(row, "EUR", month) == BudgetCaps(Decimal(5000), 600, Decimal("7.00"))
    nothing = MonthUsed(Decimal(0), Decimal(0), Decimal(0))
    assert session_caps(row, "EUR", nothing) == BudgetCaps(Decimal(8000), 3600, Decimal("10.00"))
    spent = MonthUsed(energy_wh=Decimal(25000), seconds=Decimal(4000), money=Decimal(0))
    assert session_caps(row, "EUR", spent) == BudgetCaps(Decimal(-5000), 0, Decimal("10.00"))  # stop at once
    assert session_caps(row, "CHF", month).max_amount is None  # money caps only in their currency


def test_the_month_starts_at_midnight_utc_of_its_first_day() -> None:
    assert month_start(datetime(2026, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))) == datetime(
        2026, 2, 1, tzinfo=UTC)
    assert month_start(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == datetime(2026, 12, 1, tzinfo=UTC)

"""Invoices and the wallet ledger: totals equal the sum of lines; the ledger sums to the balance (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.billing.domain import CostBreakdown, CostComponent, Dimension, TariffRef
from processors.billing.domain.invoice import credit_note, draft_invoice, invoice_number, month_bounds, session_supply
from processors.billing.domain.ledger import (
    CurrencyMismatch,
    InsufficientFunds,
    Posting,
    Wallet,
    balance_of,
    wallet_account,
)

cents = st.integers(0, 100_000).map(lambda c: Decimal(c).scaleb(-2))


@st.composite
def costs(draw: st.DrawFn) -> CostBreakdown:
    amounts = draw(st.lists(cents, min_size=1, max_size=4))
    components = tuple(CostComponent(Dimension.ENERGY, i, Decimal(1000), Decimal("0.40"), a)
                       for i, a in enumerate(amounts))
    subtotal = sum(amounts, Decimal("0.00"))
    discount = min(draw(cents), subtotal)
    vat_percent = draw(st.sampled_from([Decimal(0), Decimal(7), Decimal(19), Decimal("20.5")]))
    excl = subtotal - discount
    vat = (excl * vat_percent / 100).quantize(Decimal("0.01"))
    return CostBreakdown(TariffRef("T", 1), "EUR", components, subtotal, Decimal(10), discount, excl, vat_percent,
                         vat, excl + vat, None)


@settings(max_examples=100, deadline=None)
@given(session_costs=st.lists(costs(), min_size=1, max_size=6), detailed=st.booleans())
def test_invoice_totals_equal_the_sum_of_lines_and_credit_notes_cancel_them(session_costs, detailed):
    supplies = [session_supply(f"s{i}", c, detailed=detailed) for i, c in enumerate(session_costs)]
    draft = draft_invoice("EUR", supplies)
    assert draft.total_excl_vat == sum((line.amount_excl_vat for line in draft.lines), Decimal(0))
    assert draft.total_excl_vat == sum((base for _, base, _ in draft.vat_breakdown), Decimal(0))
    assert draft.vat == sum((c.vat for c in session_costs), Decimal(0))
    assert draft.total_incl_vat == sum((c.total_incl_vat for c in session_costs), Decimal(0))
    note = credit_note(draft)
    assert draft.total_incl_vat + note.total_incl_vat == 0
    assert sum((line.amount_excl_vat for line in note.lines), Decimal(0)) == note.total_excl_vat


def test_numbers_and_months() -> None:
    assert invoice_number("op", 2026, 7) == "op-2026-000007"
    assert month_bounds(2026, 12, UTC) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


ops = st.lists(st.tuples(st.sampled_from(["top_up", "charge", "refund"]), cents.filter(lambda a: a > 0)), max_size=30)


@settings(max_examples=100, deadline=None)
@given(operations=ops)
def test_the_wallet_ledger_always_balances_and_sums_to_the_balance(operations):
    wallet, postings = Wallet("d1", "EUR"), list[Posting]()
    for op, amount in operations:
        try:
            if op == "top_up":
                wallet, posting = wallet.top_up(amount, "EUR")
            elif op == "charge":
                wallet, posting = wallet.charge(amount, "EUR", "op")
            else:
                wallet, posting = wallet.refund(amount, "EUR")
        except InsufficientFunds:
            continue
        postings.append(posting)
        entries = [e for p in postings for e in p.entries]
        assert sum((e.amount for e in entries), Decimal(0)) == 0
        assert balance_of(wallet_account("d1"), entries) == wallet.balance >= 0


def test_wallet_refuses_other_currencies_floats_and_overdrafts() -> None:
    wallet, _ = Wallet("d1", "EUR").top_up(Decimal("10.00"), "EUR")
    with pytest.raises(CurrencyMismatch):
        wallet.charge(Decimal(1), "USD", "op")
    with pytest.raises(InsufficientFunds):
        wallet.charge(Decimal("10.01"), "EUR", "op")
    with pytest.raises(ValueError, match="decimals"):
        wallet.top_up(Decimal("0.001"), "EUR")
    with pytest.raises(ValueError, match="positive Decimal"):
        wallet.top_up(1.5, "EUR")  # type: ignore[arg-type]

"""Invoices as values: lines, totals per VAT rate, credit notes. No I/O (numbering is the store's job).

Rules: a session is one supply, taxed as its cost says (VAT on the session's total, rounded half-up: see
pricing.py); an invoice's VAT per rate is the sum of its supplies' VAT, so an invoice never disagrees with the
cost a driver saw or was charged. Invariants (property-tested): total excl. VAT = the sum of the line amounts =
the sum of the per-rate bases; VAT = the sum of the per-rate VAT; total incl. VAT = excl. + VAT. A credit note is
the exact negation of the invoice it corrects; an issued invoice is never edited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from processors.billing.domain.pricing import CostBreakdown
from processors.billing.domain.tariff import Dimension

_UNITS = {Dimension.ENERGY: ("kWh", Decimal(1000)), Dimension.TIME: ("h", Decimal(3600)),
          Dimension.PARKING_TIME: ("h", Decimal(3600)), Dimension.FLAT: ("session", Decimal(1))}
_LABELS = {Dimension.ENERGY: "Energy", Dimension.TIME: "Charging time", Dimension.PARKING_TIME: "Parking time",
           Dimension.FLAT: "Session fee"}


@dataclass(frozen=True)
class InvoiceLine:
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal  # excl. VAT
    amount_excl_vat: Decimal
    vat_percent: Decimal
    session_id: str | None = None


@dataclass(frozen=True)
class Supply:
    """One taxed supply (a charging session): its lines and its VAT, as priced."""

    lines: tuple[InvoiceLine, ...]
    vat_percent: Decimal
    vat: Decimal


@dataclass(frozen=True)
class InvoiceDraft:
    currency: str
    lines: tuple[InvoiceLine, ...]
    vat_breakdown: tuple[tuple[Decimal, Decimal, Decimal], ...]  # (rate %, base excl. VAT, VAT) per rate
    total_excl_vat: Decimal
    vat: Decimal
    total_incl_vat: Decimal


def session_supply(session_id: str, cost: CostBreakdown, *, detailed: bool = True) -> Supply:
    """A priced session as a supply: one line per cost component and one for the discount (`detailed`), or one
    line for the whole session (monthly invoices)."""
    if not detailed:
        line = InvoiceLine(f"Charging session {session_id}", Decimal(1), "session", cost.total_excl_vat,
                           cost.total_excl_vat, cost.vat_percent, session_id)
        return Supply((line,), cost.vat_percent, cost.vat)
    lines = []
    for c in cost.components:
        unit, divisor = _UNITS[c.dimension]
        lines.append(InvoiceLine(f"{_LABELS[c.dimension]} (tariff element {c.element_index})",
                                 c.quantity / divisor, unit, c.unit_price, c.amount, cost.vat_percent, session_id))
    if cost.discount:
        lines.append(InvoiceLine(f"Membership discount {cost.discount_percent}%", Decimal(1), "discount",
                                 -cost.discount, -cost.discount, cost.vat_percent, session_id))
    return Supply(tuple(lines), cost.vat_percent, cost.vat)


def draft_invoice(currency: str, supplies: Sequence[Supply]) -> InvoiceDraft:
    """Lines and totals of an invoice over `supplies` (all in `currency`)."""
    lines = tuple(line for s in supplies for line in s.lines)
    rates: dict[Decimal, tuple[Decimal, Decimal]] = {}
    for s in supplies:
        base, vat = rates.get(s.vat_percent, (Decimal(0), Decimal(0)))
        rates[s.vat_percent] = (base + sum((line.amount_excl_vat for line in s.lines), Decimal(0)), vat + s.vat)
    breakdown = tuple((rate, base, vat) for rate, (base, vat) in sorted(rates.items()))
    total = sum((line.amount_excl_vat for line in lines), Decimal(0))
    vat = sum((v for _, _, v in breakdown), Decimal(0))
    return InvoiceDraft(currency, lines, breakdown, total, vat, total + vat)


def credit_note(original: InvoiceDraft) -> InvoiceDraft:
    """The full correction of an issued invoice: every line, base and VAT negated."""
    lines = tuple(InvoiceLine(f"Correction: {line.description}", line.quantity, line.unit, line.unit_price,
                              -line.amount_excl_vat, line.vat_percent, line.session_id) for line in original.lines)
    breakdown = tuple((rate, -base, -vat) for rate, base, vat in original.vat_breakdown)
    return InvoiceDraft(original.currency, lines, breakdown, -original.total_excl_vat, -original.vat,
                        -original.total_incl_vat)


def invoice_number(operator_id: str, year: int, seq: int) -> str:
    """The printed number: gapless `seq` per operator and year (credit notes share the sequence)."""
    return f"{operator_id}-{year}-{seq:06d}"


def month_bounds(year: int, month: int, tz: object) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) in `tz` (a tzinfo)."""
    start = datetime(year, month, 1, tzinfo=tz)  # type: ignore[arg-type]
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)  # type: ignore[arg-type]
    return start, end

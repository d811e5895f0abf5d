"""The prepaid wallet as double-entry postings. No I/O: the store writes the entries these functions return.

Every transaction is a set of entries whose amounts sum to zero (amount > 0 = debit). Accounts:
``cash:<provider>`` (money held), ``wallet:<driver>`` (what is owed to the driver: a credit balance),
``revenue:<operator>``. A wallet's balance is minus the sum of its entries; it never goes below zero.

Errors::

    WalletError
     ├── CurrencyMismatch    an amount in another currency than the wallet's
     └── InsufficientFunds   a charge or refund above the balance
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from processors.billing.domain.tariff import minor_unit


class WalletError(Exception):
    """Base of the wallet's errors."""


class CurrencyMismatch(WalletError):
    """The wallet holds another currency."""


class InsufficientFunds(WalletError):
    """The wallet's balance is below the amount."""


@dataclass(frozen=True)
class Entry:
    account: str
    amount: Decimal  # > 0 debit, < 0 credit


@dataclass(frozen=True)
class Posting:
    """One balanced transaction."""

    kind: str  # TOP_UP, CHARGE, REFUND, CARD_PAYMENT
    currency: str
    entries: tuple[Entry, ...]

    def __post_init__(self) -> None:
        if sum((e.amount for e in self.entries), Decimal(0)) != 0:
            raise ValueError(f"unbalanced posting {self}")


def wallet_account(driver_id: str) -> str:
    return f"wallet:{driver_id}"


def _positive(amount: Decimal, currency: str) -> Decimal:
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise ValueError(f"amount must be a positive Decimal: {amount!r}")
    if amount.as_tuple().exponent < -minor_unit(currency):  # type: ignore[operator]
        raise ValueError(f"{amount} has more decimals than {currency} allows")
    return amount


@dataclass(frozen=True)
class Wallet:
    driver_id: str
    currency: str
    balance: Decimal = Decimal(0)

    def _check(self, amount: Decimal, currency: str) -> Decimal:
        if currency != self.currency:
            raise CurrencyMismatch(f"wallet of {self.driver_id} holds {self.currency}, not {currency}")
        return _positive(amount, currency)

    def top_up(self, amount: Decimal, currency: str, provider: str = "local") -> tuple[Wallet, Posting]:
        """Money in from a payment provider."""
        amount = self._check(amount, currency)
        posting = Posting("TOP_UP", currency, (Entry(f"cash:{provider}", amount),
                                               Entry(wallet_account(self.driver_id), -amount)))
        return Wallet(self.driver_id, self.currency, self.balance + amount), posting

    def charge(self, amount: Decimal, currency: str, operator_id: str) -> tuple[Wallet, Posting]:
        """Pay a priced session from the wallet."""
        amount = self._check(amount, currency)
        if amount > self.balance:
            raise InsufficientFunds(f"{self.balance} {currency} < {amount}")
        posting = Posting("CHARGE", currency, (Entry(wallet_account(self.driver_id), amount),
                                               Entry(f"revenue:{operator_id}", -amount)))
        return Wallet(self.driver_id, self.currency, self.balance - amount), posting

    def refund(self, amount: Decimal, currency: str, provider: str = "local") -> tuple[Wallet, Posting]:
        """Pay money back from the wallet to the driver."""
        amount = self._check(amount, currency)
        if amount > self.balance:
            raise InsufficientFunds(f"{self.balance} {currency} < {amount}")
        posting = Posting("REFUND", currency, (Entry(wallet_account(self.driver_id), amount),
                                               Entry(f"cash:{provider}", -amount)))
        return Wallet(self.driver_id, self.currency, self.balance - amount), posting


def balance_of(account: str, entries: Iterable[Entry]) -> Decimal:
    """A wallet's balance from the ledger: minus the sum of its entries."""
    return -sum((e.amount for e in entries if e.account == account), Decimal(0))

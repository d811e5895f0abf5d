"""Prepaid wallets in the store: TopUpWallet / RefundWallet commands, and paying a priced session from the
driver's wallet. The wallet row and its ledger entries are written in the same transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from processors.billing import store
from processors.billing.domain.ledger import Posting, Wallet, WalletError
from processors.billing.outbound import EVENTS, NS
from processors.runtime import Command, CommandRejected, UnitOfWork


async def load_wallet(conn: AsyncConnection, driver_id: str) -> Wallet | None:
    """The driver's wallet, row-locked for this transaction."""
    w = store.wallets
    row = (await conn.execute(sa.select(w).where(w.c.driver_id == driver_id).with_for_update())).first()
    return None if row is None else Wallet(row.driver_id, row.currency, row.balance)


async def post(conn: AsyncConnection, wallet: Wallet, posting: Posting, reference: str | None) -> str:
    """Write the wallet's new balance and the posting's entries; returns the ledger transaction id."""
    txn_id = str(uuid.uuid4())
    await conn.execute(sa.insert(store.ledger), [
        {"txn_id": txn_id, "account": e.account, "amount": e.amount, "currency": posting.currency,
         "kind": posting.kind, "reference": reference} for e in posting.entries])
    stmt = insert(store.wallets).values(driver_id=wallet.driver_id, currency=wallet.currency, balance=wallet.balance)
    await conn.execute(stmt.on_conflict_do_update(index_elements=["driver_id"],
                                                  set_={"balance": wallet.balance, "updated_at": sa.func.now()}))
    return txn_id


def _args(command: Command) -> tuple[str, Decimal, str]:
    p = command.payload
    driver_id, currency = p.get("driver_id") or command.aggregate_id, p.get("currency")
    if not isinstance(driver_id, str) or not isinstance(currency, str) or not isinstance(p.get("amount"), str):
        raise CommandRejected("INVALID", "needs driver_id, currency and amount as a decimal string")
    try:
        return driver_id, Decimal(p["amount"]), currency
    except InvalidOperation:
        raise CommandRejected("INVALID", f"amount is not a decimal: {p['amount']!r}") from None


def _emit(uow: UnitOfWork, name: str, wallet: Wallet, txn_id: str, amount: Decimal, **extra: Any) -> None:
    uow.emit(EVENTS, wallet.driver_id, NS + name, {
        "driver_id": wallet.driver_id, "entry_id": txn_id, "amount": str(amount), "currency": wallet.currency,
        "balance": str(wallet.balance), "at": datetime.now(UTC), **extra})


async def top_up_wallet(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """TopUpWallet {driver_id, amount, currency} -> OK {balance}; the first top-up opens the wallet."""
    driver_id, amount, currency = _args(command)
    wallet = await load_wallet(uow.conn, driver_id) or Wallet(driver_id, currency)
    try:
        wallet, posting = wallet.top_up(amount, currency)
    except (WalletError, ValueError) as exc:
        raise CommandRejected("INVALID", str(exc)) from None
    txn_id = await post(uow.conn, wallet, posting, command.command_id)
    _emit(uow, "WalletToppedUp", wallet, txn_id, amount)
    return "OK", {"driver_id": driver_id, "balance": str(wallet.balance), "currency": wallet.currency}


async def refund_wallet(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """RefundWallet {driver_id, amount, currency} -> OK {balance}; INVALID above the balance."""
    driver_id, amount, currency = _args(command)
    wallet = await load_wallet(uow.conn, driver_id)
    if wallet is None:
        raise CommandRejected("NOT_FOUND", f"no wallet for {driver_id}")
    try:
        wallet, posting = wallet.refund(amount, currency)
    except (WalletError, ValueError) as exc:
        raise CommandRejected("INVALID", str(exc)) from None
    txn_id = await post(uow.conn, wallet, posting, command.command_id)
    _emit(uow, "WalletRefunded", wallet, txn_id, amount)
    return "OK", {"driver_id": driver_id, "balance": str(wallet.balance), "currency": wallet.currency}


async def charge_session(uow: UnitOfWork, driver_id: str, session_id: str, operator_id: str, amount: Decimal,
                         currency: str) -> str | None:
    """Pay a priced session from the driver's wallet if it holds enough; returns the ledger txn id or None
    (then the session is left to the driver's monthly invoice)."""
    wallet = await load_wallet(uow.conn, driver_id)
    if wallet is None or amount <= 0:
        return None
    try:
        wallet, posting = wallet.charge(amount, currency, operator_id)
    except (WalletError, ValueError):
        return None
    txn_id = await post(uow.conn, wallet, posting, session_id)
    _emit(uow, "WalletCharged", wallet, txn_id, amount, session_id=session_id)
    return txn_id

"""Prepaid wallets (billing store); top-ups and refunds are commands on `billing.commands`."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from processors.billing import queries as bq
from read_api.auth import Anyone, Staff, own_driver
from read_api.deps import api_state
from read_api.errors import NotFound
from read_api.models import ERRORS
from read_api.responses import etagged
from read_api.routes._common import Payload, command, merged

router = APIRouter(prefix="/api/v1/wallets", tags=["wallets"], responses=ERRORS)


@router.get("/{driver_id}", summary="A driver's wallet and its latest ledger entries (ETag)")
async def get_wallet(request: Request, driver_id: str, principal: Anyone) -> Response:
    own_driver(principal, driver_id)
    async with api_state(request).db.read("billing") as conn:
        wallet = await bq.get_wallet(conn, driver_id)
    if wallet is None:
        raise NotFound(f"wallet of {driver_id}")
    return etagged(request, wallet)


@router.post("/{driver_id}/top-ups", summary="Top up a wallet (TopUpWallet {amount, currency})")
async def top_up(request: Request, driver_id: str, body: Payload, principal: Staff) -> Response:
    return await command(request, principal, "billing", "TopUpWallet", driver_id, merged(body, driver_id=driver_id))


@router.post("/{driver_id}/refunds", summary="Refund from a wallet (RefundWallet {amount, currency})")
async def refund(request: Request, driver_id: str, body: Payload, principal: Staff) -> Response:
    return await command(request, principal, "billing", "RefundWallet", driver_id, merged(body, driver_id=driver_id))

"""Card payments: the payment provider's webhook (authenticated by its HMAC signature, not by a user), and the
payment resource (through billing's queries module when it provides `get_payment`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from processors.billing.payments import LocalProvider, Webhooks
from read_api.auth import Anyone, own_driver
from read_api.deps import api_state, query_function
from read_api.errors import ApiError, NotFound, Unavailable
from read_api.models import ERRORS
from read_api.responses import JsonResponse, etagged

router = APIRouter(prefix="/api/v1/payments", tags=["payments"], responses=ERRORS)


@router.post("/webhook", summary="Payment provider webhook (signed: Csms-Signature; no user authentication)")
async def provider_webhook(request: Request) -> Response:
    state = api_state(request)
    secret = state.settings.payment_webhook_secret
    if secret is None:
        raise Unavailable("no payment provider is configured (CSMS_API_PAYMENT_WEBHOOK_SECRET)")
    hooks = Webhooks(state.db.domains["billing"], LocalProvider(secret.get_secret_value().encode()), state.codec,
                     state.topics)
    outcome = await hooks.verify_and_apply_webhook(dict(request.headers), await request.body())
    if outcome.status == "REJECTED":
        raise ApiError(400, outcome.reason or "webhook rejected", code="webhook_rejected")
    return JsonResponse({"status": outcome.status, "reason": outcome.reason})


@router.get("/{payment_id}", summary="One payment (needs processors.billing.queries.get_payment)")
async def get_payment(request: Request, payment_id: str, principal: Anyone) -> Response:
    fetch = query_function("billing", "get_payment")
    async with api_state(request).db.read("billing") as conn:
        payment = await fetch(conn, payment_id)
    if payment is None:
        raise NotFound(f"payment {payment_id}")
    own_driver(principal, payment.get("driver_id"))
    return etagged(request, payment)

"""Webhook subscriptions of integrators and their delivery log (admin)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, HttpUrl

from read_api import store
from read_api.auth import Admin, new_secret
from read_api.deps import api_state
from read_api.errors import ApiError, NotFound
from read_api.live import KINDS
from read_api.models import ERRORS
from read_api.pagination import encode_cursor, offset_of, page
from read_api.responses import JsonResponse
from read_api.routes._common import Cursor, Limit

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=ERRORS)
EVENT_KINDS = sorted(set(KINDS.values()))


class NewSubscription(BaseModel):
    url: HttpUrl
    event_types: list[str] = Field(min_length=1, description=f"any of {EVENT_KINDS}, or '*'")


def _public(row: Any) -> dict[str, Any]:
    return {k: v for k, v in row._mapping.items() if k != "secret"}


@router.get("", summary="Webhook subscriptions (without secrets)")
async def list_subscriptions(request: Request, _: Admin) -> Response:
    s = store.webhook_subscriptions
    async with api_state(request).db.api.connect() as conn:
        rows = (await conn.execute(sa.select(s).order_by(s.c.created_at))).all()
    return page([_public(r) for r in rows], None)


@router.post("", status_code=201, summary="Subscribe; the signing secret is shown once")
async def subscribe(request: Request, body: NewSubscription, principal: Admin) -> Response:
    unknown = set(body.event_types) - {*EVENT_KINDS, "*"}
    if unknown:
        raise ApiError(422, f"unknown event types {sorted(unknown)}", details={"event_types": EVENT_KINDS})
    row = {"subscription_id": str(uuid.uuid4()), "url": str(body.url), "event_types": body.event_types,
           "secret": new_secret(), "created_by": principal.subject}
    async with api_state(request).db.api.begin() as conn:
        await conn.execute(sa.insert(store.webhook_subscriptions).values(**row))
    return JsonResponse(row, status_code=201)


@router.delete("/{subscription_id}", status_code=204, summary="Unsubscribe")
async def unsubscribe(request: Request, subscription_id: str, _: Admin) -> None:
    s = store.webhook_subscriptions
    async with api_state(request).db.api.begin() as conn:
        done = await conn.execute(sa.delete(s).where(s.c.subscription_id == subscription_id))
    if done.rowcount == 0:
        raise NotFound(f"subscription {subscription_id}")


@router.get("/{subscription_id}/deliveries", summary="The delivery log, newest first (without bodies)")
async def deliveries(request: Request, subscription_id: str, _: Admin, cursor: Cursor = None,
                     limit: Limit = 50) -> Response:
    d = store.webhook_deliveries
    columns = [c for c in d.c if c.name != "body"]
    async with api_state(request).db.api.connect() as conn:
        rows = (await conn.execute(sa.select(*columns).where(d.c.subscription_id == subscription_id)
                                   .order_by(d.c.delivery_id.desc()).offset(offset_of(cursor))
                                   .limit(limit + 1))).all()
    items = [dict(r._mapping) for r in rows]
    more = len(items) > limit
    return page(items[:limit], encode_cursor({"o": offset_of(cursor) + limit}) if more else None)

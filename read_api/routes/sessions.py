"""Charging sessions (billing store): live and past, with the running cost while active."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from processors.billing import queries as bq
from read_api.auth import Anyone, driver_scope, own_driver
from read_api.deps import api_state
from read_api.errors import NotFound
from read_api.models import ERRORS
from read_api.pagination import windowed
from read_api.responses import etagged
from read_api.routes._common import Cursor, Limit, Sort

router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"], responses=ERRORS)
SORTABLE = ("started_at", "stopped_at", "energy_wh", "total_incl_vat", "station_id", "status")


def _within(row: dict[str, Any], token: str | None, start: datetime | None, end: datetime | None) -> bool:
    if token is not None and row.get("id_token") != token:
        return False
    started = row.get("started_at")
    at = datetime.fromisoformat(started) if isinstance(started, str) else None
    if start is not None and (at is None or at < start):
        return False
    return not (end is not None and (at is None or at >= end))


@router.get("", summary="Sessions, newest first (a driver sees only their own)")
async def list_sessions(request: Request, principal: Anyone, station_id: str | None = None,
                        driver_id: str | None = None, token: str | None = None, status: str | None = None,
                        active: bool | None = None, start: datetime | None = None, end: datetime | None = None,
                        sort: Sort = None, cursor: Cursor = None, limit: Limit = 50) -> Response:
    driver = driver_scope(principal, driver_id)

    async def fetch(n: int) -> list[dict[str, Any]]:
        async with api_state(request).db.read("billing") as conn:
            return await bq.list_sessions(conn, station_id=station_id, driver_id=driver, status=status,
                                          active=active, limit=n)

    filtered = token is not None or start is not None or end is not None
    keep = (lambda r: _within(r, token, start, end)) if filtered else None
    return await windowed(fetch, cursor, limit, keep=keep, sort=sort, sortable=SORTABLE)


@router.get("/{session_id}", summary="One session; `running_cost` is the cost so far while it is active (ETag)")
async def get_session(request: Request, session_id: str, principal: Anyone) -> Response:
    async with api_state(request).db.read("billing") as conn:
        session = await bq.get_session(conn, session_id)
        if session is None:
            raise NotFound(f"session {session_id}")
        own_driver(principal, session.get("driver_id"))
        session["running_cost"] = await bq.running_cost(conn, session_id)
    return etagged(request, session)

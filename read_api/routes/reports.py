"""Reports (monitoring's pre-aggregated tables): energy, utilisation, availability, revenue; JSON or CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from processors.monitoring import queries as mq
from read_api.auth import Reader
from read_api.deps import api_state
from read_api.errors import ApiError
from read_api.models import ERRORS
from read_api.responses import JsonResponse

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], responses=ERRORS)
COMMON = ("period", "period_kind", "group_by", "group")
COLUMNS = {
    "energy": ("energy_kwh", "sessions", "failed_sessions"),
    "utilisation": ("connectors", "occupied_s", "charging_s", "utilisation_pct", "charging_pct"),
    "availability": ("stations", "uptime_s", "availability_pct"),
    "revenue": ("sessions", "revenue"),
}
Kind = Annotated[Literal["energy", "utilisation", "availability", "revenue"], Path()]


@router.get("/{kind}", summary="A report over [start, end) UTC days, by station/site/operator and day/week/month")
async def report(request: Request, kind: Kind, _: Reader, start: date | None = None, end: date | None = None,
                 group_by: Literal["station", "site", "operator"] = "station",
                 period: Literal["day", "week", "month"] = "day",
                 format: Annotated[Literal["json", "csv"], Query()] = "json") -> Response:
    end = end or datetime.now(UTC).date() + timedelta(days=1)
    start = start or end - timedelta(days=30)
    if start >= end or (end - start).days > 366:
        raise ApiError(422, "start must be before end, at most 366 days apart")
    async with api_state(request).db.read("monitoring") as conn:
        rows = await mq.report(conn, start, end, group_by=group_by, period=period)
    picked: list[dict[str, Any]] = [{k: r[k] for k in (*COMMON, *COLUMNS[kind])} for r in rows]
    if format == "csv":
        return Response(mq.report_csv(picked), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{kind}-{start}-{end}.csv"'})
    return JsonResponse({"kind": kind, "start": start, "end": end, "items": picked, "next_cursor": None})

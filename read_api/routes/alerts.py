"""Alerts and alert rules (monitoring store); acknowledging and rule changes are commands on
`monitoring.commands`. Webhook secrets of rules never leave monitoring's store."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from processors.monitoring import queries as mq
from read_api.auth import Reader, Staff
from read_api.deps import api_state
from read_api.errors import NotFound
from read_api.models import ERRORS
from read_api.pagination import windowed
from read_api.responses import etagged
from read_api.routes._common import Cursor, Limit, OptionalPayload, Payload, Sort, command, merged

router = APIRouter(prefix="/api/v1", tags=["alerts"], responses=ERRORS)


@router.get("/alerts", summary="Alerts, newest first (filter by state, station, rule)")
async def list_alerts(request: Request, _: Reader, state: str | None = None, station_id: str | None = None,
                      rule_id: str | None = None, sort: Sort = None, cursor: Cursor = None,
                      limit: Limit = 50) -> Response:
    async def fetch(n: int) -> list[dict[str, Any]]:
        async with api_state(request).db.read("monitoring") as conn:
            return await mq.alerts(conn, state=state, station_id=station_id, rule_id=rule_id, limit=n)

    return await windowed(fetch, cursor, limit, sort=sort, sortable=("opened_at", "severity", "station_id", "state"))


@router.get("/alerts/{alert_id}", summary="One alert (ETag)")
async def get_alert(request: Request, alert_id: str, _: Reader) -> Response:
    async with api_state(request).db.read("monitoring") as conn:
        found = await mq.alert(conn, alert_id)
    if found is None:
        raise NotFound(f"alert {alert_id}")
    return etagged(request, found)


@router.post("/alerts/{alert_id}/acknowledge", summary="Acknowledge an alert (AcknowledgeAlert)")
async def acknowledge(request: Request, alert_id: str, principal: Staff, body: OptionalPayload = None) -> Response:
    return await command(request, principal, "monitoring", "AcknowledgeAlert", alert_id,
                         merged(body, alert_id=alert_id))


@router.get("/alert-rules", summary="Alert rules")
async def list_rules(request: Request, _: Reader, include_deleted: bool = False, sort: Sort = None,
                     cursor: Cursor = None, limit: Limit = 50) -> Response:
    async def fetch(n: int) -> list[dict[str, Any]]:
        async with api_state(request).db.read("monitoring") as conn:
            return (await mq.rules(conn, include_deleted=include_deleted))[:n]

    return await windowed(fetch, cursor, limit, sort=sort, sortable=("created_at", "name", "type", "severity"))


@router.get("/alert-rules/{rule_id}", summary="One alert rule (ETag)")
async def get_rule(request: Request, rule_id: str, _: Reader) -> Response:
    async with api_state(request).db.read("monitoring") as conn:
        found = await mq.rule(conn, rule_id)
    if found is None:
        raise NotFound(f"alert rule {rule_id}")
    return etagged(request, found)


@router.post("/alert-rules", summary="Create an alert rule (CreateAlertRule)")
async def create_rule(request: Request, body: Payload, principal: Staff) -> Response:
    return await command(request, principal, "monitoring", "CreateAlertRule", body.get("rule_id"), body)


@router.patch("/alert-rules/{rule_id}", summary="Change an alert rule (UpdateAlertRule)")
async def update_rule(request: Request, rule_id: str, body: Payload, principal: Staff) -> Response:
    return await command(request, principal, "monitoring", "UpdateAlertRule", rule_id, merged(body, rule_id=rule_id))


@router.delete("/alert-rules/{rule_id}", summary="Delete an alert rule (DeleteAlertRule)")
async def delete_rule(request: Request, rule_id: str, principal: Staff, body: OptionalPayload = None) -> Response:
    return await command(request, principal, "monitoring", "DeleteAlertRule", rule_id, merged(body, rule_id=rule_id))

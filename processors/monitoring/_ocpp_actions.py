"""What each OCPP action the CSMS answered means to monitoring: one small applier per action, in one table.

Appliers receive the edge's CALLRESULT (`ex.request` = the charger's CALL payload, `ex.payload` = the answer).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from processors.monitoring import _health as health
from processors.monitoring import _sessions
from processors.monitoring.domain import FAILED_FIRMWARE_STATUSES, trusted_time
from processors.monitoring.domain.health import is_status_error, notify_event_is_error, parse_time
from processors.runtime import OcppExchange

Applier = Callable[[OcppExchange, AsyncConnection], Awaitable[None]]


def _req(ex: OcppExchange) -> dict[str, Any]:
    return ex.request or {}


def _at(ex: OcppExchange, field: str = "timestamp") -> datetime:
    return trusted_time(parse_time(_req(ex).get(field)), ex.received_at)


def _int(raw: Any, default: int = 0) -> int:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else default


async def on_boot(ex: OcppExchange, conn: AsyncConnection) -> None:
    req = _req(ex)
    station = req.get("chargingStation") or req  # 2.x nests the identity
    await health.update_station(
        conn, ex.station_id, ocpp_version=ex.ocpp_version, last_boot_at=ex.received_at,
        vendor=station.get("vendorName") or station.get("chargePointVendor"),
        model=station.get("model") or station.get("chargePointModel"), firmware_version=station.get("firmwareVersion"))
    status = (ex.payload or {}).get("status")
    await health.record_event(conn, ex.station_id, "BOOT", ex.received_at, code=status, detail=req.get("reason"))
    await health.add_daily(conn, ex.station_id, ex.received_at, boots=1)


async def on_heartbeat(ex: OcppExchange, conn: AsyncConnection) -> None:
    await health.update_station(conn, ex.station_id, last_heartbeat_at=ex.received_at)


async def on_status(ex: OcppExchange, conn: AsyncConnection) -> None:
    req, at = _req(ex), _at(ex)
    if ex.is_v16:
        connector = _int(req.get("connectorId"))
        key, status = (ex.station_id, connector, connector), str(req.get("status"))
    else:
        key = (ex.station_id, _int(req.get("evseId")), _int(req.get("connectorId")))
        status = str(req.get("connectorStatus"))
    error_code, vendor_code = req.get("errorCode"), req.get("vendorErrorCode")
    await health.apply_status(conn, key, status, at, v16=ex.is_v16, error_code=error_code,
                              vendor_error_code=vendor_code, vendor_id=req.get("vendorId"), info=req.get("info"),
                              charger_ts=parse_time(req.get("timestamp")), received_at=ex.received_at)
    if is_status_error(ex.ocpp_version, status, error_code):
        await health.record_event(conn, ex.station_id, "STATUS_ERROR", at, code=error_code or status,
                                  detail=orjson.dumps({"vendorErrorCode": vendor_code, "info": req.get("info"),
                                                       "status": status}).decode(),
                                  evse_id=key[1], connector_id=key[2])
        await health.add_daily(conn, ex.station_id, at, errors=1)


async def _auth_result(ex: OcppExchange, conn: AsyncConnection, info: dict[str, Any] | None) -> str | None:
    status = (info or {}).get("status")
    if status not in (None, "Accepted"):
        await health.record_event(conn, ex.station_id, "AUTH_FAILED", ex.received_at, code=status)
        await health.add_daily(conn, ex.station_id, ex.received_at, auth_failures=1)
    return status


async def on_authorize(ex: OcppExchange, conn: AsyncConnection) -> None:
    answer = ex.payload or {}
    await _auth_result(ex, conn, answer.get("idTagInfo") or answer.get("idTokenInfo"))


async def on_start_transaction(ex: OcppExchange, conn: AsyncConnection) -> None:
    req, answer = _req(ex), ex.payload or {}
    status = await _auth_result(ex, conn, answer.get("idTagInfo"))
    connector, meter = _int(req.get("connectorId")), req.get("meterStart")
    await _sessions.start_session(
        conn, ex.station_id, str(answer.get("transactionId")), started_at=_at(ex), evse_id=connector,
        connector_id=connector, id_tag=req.get("idTag"), auth_status=status,
        meter_start_wh=float(meter) if isinstance(meter, int | float) else None)


async def on_stop_transaction(ex: OcppExchange, conn: AsyncConnection) -> None:
    req = _req(ex)
    meter = req.get("meterStop")
    await _sessions.stop_session(conn, ex.station_id, str(req.get("transactionId")), stopped_at=_at(ex),
                                 reason=req.get("reason") or "Local",
                                 meter_stop_wh=float(meter) if isinstance(meter, int | float) else None)


async def on_transaction_event(ex: OcppExchange, conn: AsyncConnection) -> None:
    req, at = _req(ex), _at(ex)
    info = req.get("transactionInfo") or {}
    tx, evse = str(info.get("transactionId")), req.get("evse") or {}
    status = await _auth_result(ex, conn, (ex.payload or {}).get("idTokenInfo"))
    evse_id, connector_id = evse.get("id"), evse.get("connectorId")
    if req.get("eventType") == "Started" or status is not None or evse_id is not None:
        await _sessions.start_session(
            conn, ex.station_id, tx, started_at=at if req.get("eventType") == "Started" else None,
            evse_id=evse_id, connector_id=connector_id, id_tag=(req.get("idToken") or {}).get("idToken"),
            auth_status=status, meter_start_wh=None)
    state = info.get("chargingState")
    if state is not None and evse_id is not None:
        await health.apply_charging(conn, (ex.station_id, evse_id, _int(connector_id, 1)), state == "Charging", at)
    if req.get("eventType") == "Ended":
        await _sessions.stop_session(conn, ex.station_id, tx, stopped_at=at,
                                     reason=info.get("stoppedReason") or "Local", meter_stop_wh=None)


async def on_notify_event(ex: OcppExchange, conn: AsyncConnection) -> None:
    for item in _req(ex).get("eventData") or ():
        at = trusted_time(parse_time(item.get("timestamp")), ex.received_at)
        component, variable = item.get("component") or {}, item.get("variable") or {}
        code = item.get("techCode") or f"{component.get('name')}.{variable.get('name')}"
        await health.record_event(conn, ex.station_id, "NOTIFY_EVENT", at, code=code,
                                  detail=orjson.dumps(item).decode(), evse_id=(component.get("evse") or {}).get("id"),
                                  connector_id=(component.get("evse") or {}).get("connectorId"))
        if notify_event_is_error(item):
            await health.add_daily(conn, ex.station_id, at, errors=1)


async def on_security_event(ex: OcppExchange, conn: AsyncConnection) -> None:
    req, at = _req(ex), _at(ex)
    await health.record_event(conn, ex.station_id, "SECURITY_EVENT", at, code=req.get("type"),
                              detail=req.get("techInfo"))
    await health.add_daily(conn, ex.station_id, at, security_events=1)


async def on_firmware_status(ex: OcppExchange, conn: AsyncConnection) -> None:
    status = _req(ex).get("status")
    await health.update_station(conn, ex.station_id, firmware_status=status, firmware_status_at=ex.received_at)
    await health.record_event(conn, ex.station_id, "FIRMWARE_STATUS", ex.received_at, code=status)
    if status in FAILED_FIRMWARE_STATUSES:
        await health.add_daily(conn, ex.station_id, ex.received_at, errors=1)


async def on_diagnostics_status(ex: OcppExchange, conn: AsyncConnection) -> None:
    status = _req(ex).get("status")
    await health.update_station(conn, ex.station_id, diagnostics_status=status, diagnostics_status_at=ex.received_at)
    await health.record_event(conn, ex.station_id, "DIAGNOSTICS_STATUS", ex.received_at, code=status)


ACTIONS: dict[str, Applier] = {
    "BootNotification": on_boot,
    "Heartbeat": on_heartbeat,
    "StatusNotification": on_status,
    "Authorize": on_authorize,
    "StartTransaction": on_start_transaction,
    "StopTransaction": on_stop_transaction,
    "TransactionEvent": on_transaction_event,
    "NotifyEvent": on_notify_event,
    "SecurityEventNotification": on_security_event,
    "FirmwareStatusNotification": on_firmware_status,
    "DiagnosticsStatusNotification": on_diagnostics_status,
    "LogStatusNotification": on_diagnostics_status,
}
SAMPLED_ACTIONS = frozenset({"MeterValues", "StopTransaction", "TransactionEvent"})

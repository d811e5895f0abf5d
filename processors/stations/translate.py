"""Pure translation of OCPP exchanges into the facts the stations store keeps (no I/O).

Connector model: 2.x addresses (evseId, connectorId) directly. A 1.6 `connectorId` N is an independently usable
outlet, i.e. EVSE N with its one connector 1 (the OCPP 2.0.1 migration mapping); 1.6 connectorId 0 (the charge
point itself) is recorded as (0, 0) in the status history only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from processors.runtime import OcppExchange
from processors.stations.domain import normalise_status


@dataclass(frozen=True, slots=True)
class ConnectorStatusFact:
    """One connector status report, normalised."""

    station_id: str
    evse_id: int
    connector_id: int
    status: str
    raw_status: str
    error_code: str | None
    charger_timestamp: datetime | None
    received_at: datetime
    source_event_id: str
    item: int


@dataclass(frozen=True, slots=True)
class ConfigFact:
    """One configuration key (1.6) or device-model variable attribute (2.x) as the station reported it."""

    station_id: str
    key: str
    component: str
    component_instance: str | None
    evse_id: int | None
    connector_id: int | None
    variable: str
    variable_instance: str | None
    attribute_type: str
    value: str | None
    readonly: bool | None
    source: str
    reported_at: datetime


def _parse_ts(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def connector_statuses(ex: OcppExchange) -> Iterator[ConnectorStatusFact]:
    """Status facts of an answered StatusNotification (1.6/2.x) or NotifyEvent (Connector.AvailabilityState)."""
    request = ex.request or {}
    if ex.action == "StatusNotification":
        yield from _status_notification(ex, request)
    elif ex.action == "NotifyEvent":
        for item, data in enumerate(request.get("eventData") or ()):
            fact = _availability_event(ex, data, item)
            if fact is not None:
                yield fact


def _status_notification(ex: OcppExchange, request: Mapping[str, Any]) -> Iterator[ConnectorStatusFact]:
    error: str | None = None
    if ex.is_v16:
        raw, connector = request.get("status"), request.get("connectorId")
        if not isinstance(connector, int):
            return
        evse, conn = (0, 0) if connector == 0 else (connector, 1)
        if request.get("errorCode") not in (None, "NoError"):
            error = str(request.get("errorCode"))
    else:
        raw, evse_id, connector_id = request.get("connectorStatus"), request.get("evseId"), request.get("connectorId")
        if not isinstance(evse_id, int) or not isinstance(connector_id, int):
            return
        evse, conn = evse_id, connector_id
    status = normalise_status(raw)
    if status is None or raw is None:
        return
    yield ConnectorStatusFact(ex.station_id, evse, conn, status, str(raw), error,
                              _parse_ts(request.get("timestamp")) or ex.charger_timestamp, ex.received_at,
                              ex.event_id, 0)


def _availability_event(ex: OcppExchange, data: Mapping[str, Any], item: int) -> ConnectorStatusFact | None:
    component, variable = data.get("component") or {}, data.get("variable") or {}
    if component.get("name") != "Connector" or variable.get("name") != "AvailabilityState":
        return None
    evse = component.get("evse") or {}
    evse_id, conn = evse.get("id"), evse.get("connectorId", 1)
    status = normalise_status(data.get("actualValue"))
    if not isinstance(evse_id, int) or not isinstance(conn, int) or status is None:
        return None
    return ConnectorStatusFact(ex.station_id, evse_id, conn, status, str(data.get("actualValue")), None,
                               _parse_ts(data.get("timestamp")), ex.received_at, ex.event_id, item)


def configuration(ex: OcppExchange) -> Iterator[ConfigFact]:
    """Configuration facts of a 1.6 GetConfiguration result or a 2.x NotifyReport."""
    if ex.action == "GetConfiguration" and ex.answered_by_charger:
        for entry in (ex.payload or {}).get("configurationKey") or ():
            key = str(entry.get("key"))
            yield ConfigFact(ex.station_id, key, "", None, None, None, key, None, "Actual", entry.get("value"),
                             entry.get("readonly"), "GetConfiguration", ex.received_at)
    elif ex.action == "NotifyReport" and ex.answered_by_csms:
        for data in (ex.request or {}).get("reportData") or ():
            yield from _report_data(ex, data)


def _report_data(ex: OcppExchange, data: Mapping[str, Any]) -> Iterator[ConfigFact]:
    component, variable = data.get("component") or {}, data.get("variable") or {}
    evse = component.get("evse") or {}
    for attribute in data.get("variableAttribute") or ():
        kind = str(attribute.get("type", "Actual"))
        parts = [str(component.get("name")), component.get("instance"), evse.get("id"), evse.get("connectorId"),
                 str(variable.get("name")), variable.get("instance"), kind]
        key = "/".join("" if p is None else str(p) for p in parts)
        mutability = attribute.get("mutability")
        yield ConfigFact(ex.station_id, key, str(component.get("name")), component.get("instance"), evse.get("id"),
                         evse.get("connectorId"), str(variable.get("name")), variable.get("instance"), kind,
                         attribute.get("value"), None if mutability is None else mutability == "ReadOnly",
                         "NotifyReport", ex.received_at)

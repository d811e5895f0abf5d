"""Sampled values of one OCPP message as rows of the time series (pure; the hot path of the processor).

- every numeric `sampledValue.value` is stored (1.6 strings are parsed; 1.6 `SignedData` and other non-numbers are
  skipped); `measurand` defaults to Energy.Active.Import.Register;
- 2.x values are multiplied by 10^`unitOfMeasure.multiplier`; kWh, kW, kvarh, kvar, kVA are scaled to Wh, W,
  varh, var, VA; an energy value without unit is Wh;
- the sample time is the charger's timestamp when it is an ISO 8601 date-time within [receive time - TRUST_PAST,
  receive time + TRUST_FUTURE] (domain.health), else the edge's receive time; both raw times are kept;
- where: 1.6 MeterValues `connectorId` is both EVSE and connector; 2.x MeterValues `evseId` with connector 0;
  TransactionEvent `evse.id` / `evse.connectorId`; StopTransaction `transactionData` has EVSE and connector 0.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson

from processors.monitoring.domain.health import TRUST_FUTURE, TRUST_PAST, parse_time

DEFAULT_MEASURAND = "Energy.Active.Import.Register"
SCALED_UNITS = {"kWh": "Wh", "kW": "W", "kvarh": "varh", "kvar": "var", "kVA": "VA"}

# One meterValue entry: (ts, received_at, charger_ts, station_id, evse_id, connector_id, transaction_id, values)
# with values [(measurand, phase, location, unit, context, value)]: the columns of `meter_samples`, one row per value.
Value = tuple[str, str | None, str | None, str | None, str | None, float]
Reading = tuple[datetime, datetime, datetime | None, str, int, int, str | None, list[Value]]

# the same patterns PostgreSQL applied when this was SQL (ASCII digits and spaces only, like its C locale)
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?", re.ASCII)
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*", re.ASCII)


def _int(raw: Any) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and (digits := raw.strip().lstrip("+-")).isascii() and digits.isdigit():
        return int(raw)
    return 0


_PLAIN = (str, type(None))


def _text(raw: Any) -> str | None:
    """A JSON value as PostgreSQL's `->>` renders it: strings as they are, other values as JSON, null as None."""
    if raw is None or isinstance(raw, str):
        return raw
    return orjson.dumps(raw).decode()


def _where(action: str, v2: bool, request: dict[str, Any]) -> tuple[int, int, str | None, Any]:
    """(evse, connector, transaction id, list of meterValue) of a message."""
    if action == "TransactionEvent":
        evse = request.get("evse")
        evse = evse if isinstance(evse, dict) else {}
        info = request.get("transactionInfo")
        tx = _text(info.get("transactionId")) if isinstance(info, dict) else None
        return _int(evse.get("id")), _int(evse.get("connectorId")), tx, request.get("meterValue")
    tx = _text(request.get("transactionId"))
    if action == "StopTransaction":
        data = request.get("transactionData")
        return 0, 0, tx, data if isinstance(data, list) else request.get("meterValue")
    if action == "MeterValues":
        if v2:
            return _int(request.get("evseId")), 0, tx, request.get("meterValue")
        connector = _int(request.get("connectorId"))
        return connector, connector, tx, request.get("meterValue")
    return 0, 0, tx, request.get("meterValue")


def _value(sv: Any, v2: bool) -> Value | None:
    """A sampledValue normalised, or None when it is not a number. Called per value: kept flat on purpose."""
    if type(sv) is not dict:
        return None
    raw: Any = sv.get("value")
    kind = type(raw)
    if kind is str:
        if not _NUMBER.fullmatch(raw):
            return None
        value = float(raw)
    elif kind is float or kind is int:
        value = float(raw)
    else:
        return None
    measurand: Any = sv.get("measurand")
    if measurand is None:
        measurand = DEFAULT_MEASURAND
    elif type(measurand) is not str:
        measurand = _text(measurand)
    given: Any
    if v2:
        uom = sv.get("unitOfMeasure")
        if type(uom) is dict:
            given = uom.get("unit")
            multiplier = uom.get("multiplier")
            if multiplier is not None and (multiplier := _int(multiplier)):
                value *= 10.0 ** multiplier
        else:
            given = None
    else:
        given = sv.get("unit")
    if given is None:
        unit = "Wh" if measurand.startswith("Energy") else None
    else:
        if type(given) is not str:
            given = _text(given)
        unit = SCALED_UNITS.get(given)
        if unit is None:
            unit = given
        else:
            value *= 1000
    phase, location, context = sv.get("phase"), sv.get("location"), sv.get("context")
    if not (type(phase) in _PLAIN and type(location) in _PLAIN and type(context) in _PLAIN):
        phase, location, context = _text(phase), _text(location), _text(context)
    return measurand, phase, location, unit, context, value


def readings(station_id: str, received_at: datetime, v2: bool, action: str, request: Any) -> list[Reading]:
    """The numeric sampled values of one charger message (MeterValues, StopTransaction, TransactionEvent), by
    meterValue entry."""
    if not isinstance(request, dict):
        return []
    evse, connector, tx, meter_values = _where(action, v2, request)
    if not isinstance(meter_values, list):
        return []
    out: list[Reading] = []
    earliest, latest = received_at - TRUST_PAST, received_at + TRUST_FUTURE
    for mv in meter_values:
        if not isinstance(mv, dict) or not isinstance(sampled := mv.get("sampledValue"), list):
            continue
        values = [value for sv in sampled if (value := _value(sv, v2)) is not None]
        if not values:
            continue
        raw_ts = mv.get("timestamp")
        charger_ts = parse_time(raw_ts) if isinstance(raw_ts, str) and _ISO.fullmatch(raw_ts) else None
        ts = charger_ts if charger_ts is not None and earliest <= charger_ts <= latest else received_at
        out.append((ts, received_at, charger_ts, station_id, evse, connector, tx, values))
    return out

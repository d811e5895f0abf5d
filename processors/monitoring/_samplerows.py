"""The hot path's fast lane: sampled values straight from a parsed OCPP request into COPY rows, per partition day.

The same rows, byte for byte, as `_copy.encode(domain.samples.readings(...))` grouped by the UTC day of `ts` (a
property test checks it), without a Python object per value. A batch sees few distinct value descriptions
(measurand, phase, location, unit, context, multiplier), so each one is normalised once per batch and remembered
with what it does to the number (the 2.x multiplier, the k-unit scaling, "is an energy register in Wh"); a value
is then a type check, a number check, at most two multiplications and a pack. A sampledValue whose description is
not plain text (the JSON allows anything) takes the generic `samples._value` instead.

Number check: `samples._NUMBER` accepts exactly the strings `float()` accepts that consist of ASCII digits, `.`,
`+`, `-`, `e`, `E` and ASCII whitespace (`float` alone would also take "nan", "inf", "1_000", non-ASCII digits), so a
string made of those characters is given to `float()` and a ValueError means "not a number".
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from processors.monitoring._copy import _FIELDS, _FLOAT, _INT, _NULL, HEADER, TRAILER, _text, _time
from processors.monitoring.domain.health import TRUST_FUTURE, TRUST_PAST, parse_time
from processors.monitoring.domain.samples import _ISO, DEFAULT_MEASURAND, SCALED_UNITS, _int, _value, _where

_NUMBER_CHARS = "0123456789.+-eE \t\n\r\x0b\x0c"
_PLAIN = (str, type(None))
# what a value description does: (its COPY bytes, 10^multiplier or None, scaled from a k-unit, energy register in Wh)
_Description = tuple[bytes, float | None, bool, bool]


class SampleRows:
    """The COPY streams (one per UTC day of `ts`, i.e. per `meter_samples` partition) of one batch's values, with
    what the batch transaction also needs: the time range, the count, and the sessions' register spans."""

    def __init__(self) -> None:
        self.days: dict[date, list[bytes]] = {}
        self.count = 0
        self.lo: datetime | None = None
        self.hi: datetime | None = None
        # (station, transaction) -> [min evse, min connector, min Wh, max Wh], as _timeseries.register_spans
        self.spans: dict[tuple[str, str], list[Any]] = {}
        self._described: dict[tuple[Any, ...], _Description] = {}
        self._times: dict[str, tuple[datetime | None, bytes]] = {}
        self._places: dict[tuple[str, int, int, str | None], bytes] = {}
        self._generic: dict[tuple[str | None, ...], bytes] = {}

    def streams(self) -> dict[date, bytes]:
        """The binary COPY stream of each day's rows."""
        return {day: b"".join((*parts, TRAILER)) for day, parts in self.days.items() if len(parts) > 1}

    def add(self, station_id: str, received_at: datetime, v2: bool, action: str, request: Any) -> None:
        """Add the numeric sampled values of one charger message (MeterValues, StopTransaction, TransactionEvent)."""
        if type(request) is not dict:
            return
        evse, connector, tx, meter_values = _where(action, v2, request)
        if type(meter_values) is not list:
            return
        earliest, latest = received_at - TRUST_PAST, received_at + TRUST_FUTURE
        received = _time(received_at)
        place = self._places.get((station_id, evse, connector, tx))
        if place is None:
            place = _text(station_id) + _INT.pack(4, evse) + _INT.pack(4, connector) + _text(tx)
            self._places[(station_id, evse, connector, tx)] = place
        span = None if tx is None else (station_id, tx)
        for mv in meter_values:
            if type(mv) is not dict or type(sampled := mv.get("sampledValue")) is not list:
                continue
            raw_ts = mv.get("timestamp")
            if type(raw_ts) is str:
                known = self._times.get(raw_ts)  # chargers sampling on the clock share timestamps
                if known is None:
                    parsed = parse_time(raw_ts) if _ISO.fullmatch(raw_ts) else None
                    known = self._times[raw_ts] = (parsed, _time(parsed))
                charger_ts, charger = known
            else:
                charger_ts, charger = None, _NULL
            if charger_ts is not None and earliest <= charger_ts <= latest:
                ts, shared = charger_ts, b"".join((_FIELDS, charger, received, charger, place))
            else:
                ts, shared = received_at, b"".join((_FIELDS, received, received, charger, place))
            day = ts.date()
            parts = self.days.get(day)
            if parts is None:
                parts = self.days[day] = [HEADER]
            added = self._rows(parts, shared, v2, sampled, span, evse, connector)
            if not added:
                continue
            self.count += added
            if self.lo is None or ts < self.lo:
                self.lo = ts
            if self.hi is None or ts > self.hi:
                self.hi = ts

    def _rows(self, rows: list[bytes], shared: bytes, v2: bool, sampled: list[Any], span: tuple[str, str] | None,
              evse: int, connector: int) -> int:
        """Append (shared, description, value) byte triples of an entry's numeric values to `rows`; returns how many.
        Energy register values in Wh widen the session's span (`span` = (station, transaction), None without a
        transaction). Called per entry: kept flat on purpose."""
        before = len(rows)
        described, pack = self._described, _FLOAT.pack
        for sv in sampled:
            if type(sv) is not dict:
                continue
            raw: Any = sv.get("value")
            kind = type(raw)
            if kind is str:
                if not (raw.isdigit() and raw.isascii()):
                    if raw.strip(_NUMBER_CHARS):
                        continue
                    try:
                        value = float(raw)
                    except ValueError:
                        continue
                else:
                    value = float(raw)
            elif kind is float or kind is int:
                value = float(raw)
            else:
                continue
            if v2:
                uom = sv.get("unitOfMeasure")
                if type(uom) is dict:
                    multiplier = uom.get("multiplier")
                    key: tuple[Any, ...] = (sv.get("measurand"), sv.get("phase"), sv.get("location"),
                                            sv.get("context"), uom.get("unit"), multiplier, type(multiplier))
                else:  # as a unitOfMeasure without unit and multiplier
                    key = (sv.get("measurand"), sv.get("phase"), sv.get("location"), sv.get("context"), None, None,
                           type(None))
            else:
                key = (sv.get("measurand"), sv.get("phase"), sv.get("location"), sv.get("context"), sv.get("unit"))
            try:
                description = described.get(key)
            except TypeError:  # a list or an object where text was expected
                description = None
            if description is None:
                description = self._describe(key, sv, v2)
                if description is None:  # not plain text: the generic normalisation, row by row
                    normalised = _value(sv, v2)
                    if normalised is None:
                        continue
                    rows += (shared, self._generic_description(normalised[:5]), pack(8, normalised[5]))
                    if span is not None and normalised[0] == DEFAULT_MEASURAND and normalised[3] == "Wh":
                        self._widen(span, evse, connector, normalised[5])
                    continue
            data, power, kilo, register = description
            if power is not None:
                value *= power
            if kilo:
                value *= 1000
            rows += (shared, data, pack(8, value))
            if register and span is not None:
                self._widen(span, evse, connector, value)
        return (len(rows) - before) // 3

    def _describe(self, key: tuple[Any, ...], sv: dict[str, Any], v2: bool) -> _Description | None:
        """Normalise a value description once per batch (as samples._value does), or None when it is not made of
        plain text (and a plain multiplier) and must go through the generic path."""
        if not all(type(part) in _PLAIN for part in key[:5]):
            return None
        power: float | None = None
        if v2:
            if key[6] not in (int, str, type(None)):
                return None
            if key[5] is not None and (multiplier := _int(key[5])):
                power = 10.0 ** multiplier
        normalised = _value({**sv, "value": 0}, v2)
        if normalised is None:
            return None
        measurand, _, _, unit, _, _ = normalised
        description = (self._generic_description(normalised[:5]), power, key[4] in SCALED_UNITS,
                       measurand == DEFAULT_MEASURAND and unit == "Wh")
        self._described[key] = description
        return description

    def _generic_description(self, key: tuple[str | None, ...]) -> bytes:
        data = self._generic.get(key)
        if data is None:
            data = self._generic[key] = b"".join(_text(v) for v in key)
        return data

    def _widen(self, key: tuple[str, str], evse: int, connector: int, value: float) -> None:
        span = self.spans.get(key)
        if span is None:
            self.spans[key] = [evse, connector, value, value]
        else:
            span[0], span[1] = min(span[0], evse), min(span[1], connector)
            span[2], span[3] = min(span[2], value), max(span[3], value)

"""Readings as a PostgreSQL binary COPY stream for `meter_samples`: the field encoders of the hot path (_samplerows)
and `encode`, the generic path that the fast lane must match byte for byte (tests/unit/monitoring).

asyncpg's `copy_records_to_table` encodes every field of every row; its timestamptz encoder alone costs ~1 µs per
value, three per row. Here the fields a meterValue entry shares (times, station, EVSE, connector, transaction) are
encoded once per entry and the descriptive fields of a value (measurand, phase, location, unit, context) once per
distinct combination, so a row is two joins of ready bytes plus its float. Format: PostgreSQL "COPY ... BINARY"
(signature, flags, extension length; per tuple an int16 field count and (int32 length, bytes) per field, length -1
for NULL; trailer int16 -1).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime

from processors.monitoring.domain.samples import Reading

COLUMNS = ("ts", "received_at", "charger_ts", "station_id", "evse_id", "connector_id", "transaction_id",
           "measurand", "phase", "location", "unit", "context", "value")
HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_NULL = struct.pack(">i", -1)
_FIELDS = struct.pack(">h", len(COLUMNS))
_TIME = struct.Struct(">iq")
_INT = struct.Struct(">ii")
_FLOAT = struct.Struct(">id")
_LENGTH = struct.Struct(">i")


def _text(value: str | None) -> bytes:
    if value is None:
        return _NULL
    data = value.encode()
    return _LENGTH.pack(len(data)) + data


def _time(value: datetime | None) -> bytes:
    if value is None:
        return _NULL
    delta = value - _PG_EPOCH
    return _TIME.pack(8, (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


def encode(readings: Sequence[Reading]) -> bytes:
    """The COPY BINARY stream of the rows (one per value) of `readings`, in `COLUMNS` order."""
    parts = [HEADER]
    described: dict[tuple[str, str | None, str | None, str | None, str | None], bytes] = {}
    pack_value = _FLOAT.pack
    for ts, received_at, charger_ts, station, evse, connector, tx, values in readings:
        shared = b"".join((_FIELDS, _time(ts), _time(received_at), _time(charger_ts), _text(station),
                           _INT.pack(4, evse), _INT.pack(4, connector), _text(tx)))
        for measurand, phase, location, unit, context, value in values:
            key = (measurand, phase, location, unit, context)
            description = described.get(key)
            if description is None:
                description = described[key] = b"".join(_text(v) for v in key)
            parts += (shared, description, pack_value(8, value))
    parts.append(TRAILER)
    return b"".join(parts)

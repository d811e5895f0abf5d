"""A compiled Avro binary encoder for flat record schemas: the edge's hot path.

fastavro's `schemaless_writer` costs ~17 µs per OcppMessage on this box, mostly per-call set-up; a closure per
field costs a few. Only records whose fields are primitives, enums, logical timestamps/uuids and unions of those
with null are compiled; anything else (arrays, maps, nested records) is left to fastavro. The output is
byte-identical to fastavro's, which the unit tests check for every schema and for random values.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Writer = Callable[[bytearray, Any], None]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DOUBLE = struct.Struct("<d")
_FLOAT = struct.Struct("<f")


def _long(buf: bytearray, value: int) -> None:
    n = (value << 1) ^ (value >> 63)
    while n & ~0x7F:
        buf.append((n & 0x7F) | 0x80)
        n >>= 7
    buf.append(n)


def _string(buf: bytearray, value: str) -> None:
    data = value.encode()
    _long(buf, len(data))
    buf += data


def _bytes(buf: bytearray, value: bytes) -> None:
    _long(buf, len(value))
    buf += value


def _boolean(buf: bytearray, value: bool) -> None:
    buf.append(1 if value else 0)


def _micros(value: datetime | int) -> int:
    if isinstance(value, int):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _timestamp_micros(buf: bytearray, value: datetime | int) -> None:
    _long(buf, _micros(value))


def _timestamp_millis(buf: bytearray, value: datetime | int) -> None:
    _long(buf, value if isinstance(value, int) else _micros(value) // 1000)


def _uuid(buf: bytearray, value: Any) -> None:
    _string(buf, str(value))


def _double(buf: bytearray, value: float) -> None:
    buf += _DOUBLE.pack(value)


def _float(buf: bytearray, value: float) -> None:
    buf += _FLOAT.pack(value)


_PRIMITIVES: dict[str, Writer] = {
    "string": _string, "long": _long, "int": _long, "boolean": _boolean, "bytes": _bytes,
    "double": _double, "float": _float,
}


def _writer_for(schema: Any) -> Writer | None:
    if isinstance(schema, str):
        return _PRIMITIVES.get(schema)
    if not isinstance(schema, dict):
        return None
    logical = schema.get("logicalType")
    kind = schema.get("type")
    if logical == "timestamp-micros" and kind == "long":
        return _timestamp_micros
    if logical == "timestamp-millis" and kind == "long":
        return _timestamp_millis
    if logical == "uuid" and kind == "string":
        return _uuid
    if logical is not None:
        return None
    if kind == "enum":
        index = {symbol: i for i, symbol in enumerate(schema["symbols"])}

        def enum(buf: bytearray, value: str) -> None:
            _long(buf, index[value])

        return enum
    if isinstance(kind, str):
        return _PRIMITIVES.get(kind)
    return None


def _optional(schema: list[Any]) -> Writer | None:
    """["null", X] or [X, "null"]."""
    if len(schema) != 2 or "null" not in schema:
        return None
    null_index = schema.index("null")
    inner = _writer_for(schema[1 - null_index])
    if inner is None:
        return None
    other_index = 1 - null_index

    def optional(buf: bytearray, value: Any) -> None:
        if value is None:
            buf.append(null_index << 1)
        else:
            buf.append(other_index << 1)
            inner(buf, value)

    return optional


def compile_record(schema: dict[str, Any]) -> Callable[[dict[str, Any]], bytes] | None:
    """An encoder for a flat record schema (as parsed by fastavro), or None when not supported."""
    if schema.get("type") != "record":
        return None
    fields: list[tuple[str, Writer, bool, Any]] = []
    for field in schema["fields"]:
        ftype = field["type"]
        writer = _optional(ftype) if isinstance(ftype, list) else _writer_for(ftype)
        if writer is None:
            return None
        fields.append((field["name"], writer, "default" in field, field.get("default")))

    def encode(record: dict[str, Any]) -> bytes:
        buf = bytearray()
        get = record.get
        for name, writer, has_default, default in fields:
            value = get(name, default) if has_default else record[name]
            writer(buf, value)
        return bytes(buf)

    return encode

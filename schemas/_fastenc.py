"""A compiled Avro binary encoder for flat record schemas: the edge's hot path.

fastavro's `schemaless_writer` costs ~17 µs per OcppMessage on this box, mostly per-call set-up; the generated
function a few. Only records whose fields are primitives, enums, logical timestamps/uuids and unions of those
with null are compiled; anything else (arrays, maps, nested records) is left to fastavro. The output is
byte-identical to fastavro's, which the unit tests check for every schema and for random values.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from schemas._flat import DOUBLE as _DOUBLE
from schemas._flat import EPOCH as _EPOCH
from schemas._flat import FLOAT as _FLOAT
from schemas._flat import field_parts, value_kind


def _long(buf: bytearray, value: int) -> None:
    n = (value << 1) ^ (value >> 63)
    while n & ~0x7F:
        buf.append((n & 0x7F) | 0x80)
        n >>= 7
    buf.append(n)


def _micros(value: datetime | int) -> int:
    if isinstance(value, int):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _varint(buf: bytearray, n: int) -> None:
    """An unsigned varint (`n` already zigzag-encoded)."""
    while n & ~0x7F:
        buf.append((n & 0x7F) | 0x80)
        n >>= 7
    buf.append(n)


# Straight-line source per field kind; `v` holds the field's value, `a` is buf.append. Lengths and enum indexes
# are zigzag-encoded by a shift (they are never negative) and take the one-byte path below 64.
_SOURCE: dict[str, str] = {
    "string": "d = v.encode()\nn = len(d) << 1\nif n < 128: a(n)\nelse: _varint(buf, n)\nbuf += d",
    "uuid": "d = str(v).encode()\nn = len(d) << 1\nif n < 128: a(n)\nelse: _varint(buf, n)\nbuf += d",
    "bytes": "n = len(v) << 1\nif n < 128: a(n)\nelse: _varint(buf, n)\nbuf += v",
    "long": "_long(buf, v)",
    "int": "_long(buf, v)",
    "boolean": "a(1 if v else 0)",
    "double": "buf += _DOUBLE.pack(v)",
    "float": "buf += _FLOAT.pack(v)",
    "timestamp-micros": "_long(buf, _micros(v))",
    "timestamp-millis": "_long(buf, v if isinstance(v, int) else _micros(v) // 1000)",
}


def _field_source(ftype: Any, enums: list[dict[str, int]]) -> str | None:
    """The statements that write one field's value `v`, or None when its type is not supported."""
    parts = field_parts(ftype)
    kind = value_kind(parts[1]) if parts is not None else None
    if parts is None or kind is None:
        return None
    if kind == "enum":
        enums.append({symbol: i for i, symbol in enumerate(parts[1]["symbols"])})
        body = f"n = _ENUM{len(enums) - 1}[v] << 1\nif n < 128: a(n)\nelse: _varint(buf, n)"
    else:
        body = _SOURCE[kind]
    null_index = parts[0]
    if null_index is None:
        return body
    indented = "\n".join("    " + line for line in body.splitlines())
    return f"if v is None: a({null_index << 1})\nelse:\n    a({(1 - null_index) << 1})\n{indented}"


def compile_record(schema: dict[str, Any]) -> Callable[[dict[str, Any]], bytes] | None:
    """An encoder for a flat record schema (as parsed by fastavro), or None when not supported.

    The encoder is one generated function with every field's writing inlined (a closure per field cost ~40 %
    more on the edge's OcppMessage)."""
    if schema.get("type") != "record":
        return None
    enums: list[dict[str, int]] = []
    defaults: dict[str, Any] = {}
    lines = ["def encode(record):", "    buf = bytearray()", "    a = buf.append"]
    for i, field in enumerate(schema["fields"]):
        body = _field_source(field["type"], enums)
        if body is None:
            return None
        if "default" in field:
            defaults[f"_DEFAULT{i}"] = field["default"]
            lines.append(f"    v = record.get({field['name']!r}, _DEFAULT{i})")
        else:
            lines.append(f"    v = record[{field['name']!r}]")
        lines.extend("    " + line for line in body.splitlines())
    lines.append("    return bytes(buf)")
    namespace: dict[str, Any] = {
        "_long": _long, "_varint": _varint, "_micros": _micros, "_DOUBLE": _DOUBLE, "_FLOAT": _FLOAT,
        **{f"_ENUM{i}": index for i, index in enumerate(enums)}, **defaults,
    }
    exec(compile("\n".join(lines), f"<avro encoder {schema.get('name')}>", "exec"), namespace)
    encoder: Callable[[dict[str, Any]], bytes] = namespace["encode"]
    return encoder

"""A compiled Avro binary decoder for flat record schemas: the processors' hot path.

The mirror of `_fastenc`: one generated function per record schema, every field's reading inlined. It serves only
records written with the reader's own schema (no resolution needed: the common case); older writer schemas go
through fastavro's resolving reader. fastavro's `schemaless_reader` costs ~20-25 µs per OcppMessage here, mostly
per-call set-up. Values are exactly what fastavro returns (timestamps as UTC datetimes, uuids as text, as the codec
configures fastavro), which the unit tests check for every schema and for random values.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from schemas._flat import DOUBLE as _DOUBLE
from schemas._flat import EPOCH as _EPOCH
from schemas._flat import FLOAT as _FLOAT
from schemas._flat import field_parts, value_kind


def _long(b: bytes, pos: int) -> tuple[int, int]:
    """A zigzag varint at `pos`: (value, next position)."""
    byte = b[pos]
    pos += 1
    n, shift = byte & 0x7F, 7
    while byte & 0x80:
        byte = b[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        shift += 7
    return (n >> 1) ^ -(n & 1), pos


# Reads a long into `n`: the one-byte case inline, longer ones through _long.
_N = "c = b[p]\nif c < 128:\n    n = (c >> 1) ^ -(c & 1)\n    p += 1\nelse:\n    n, p = _long(b, p)"
_SOURCE: dict[str, str] = {
    "string": _N + "\nif n < 0: raise ValueError('negative length')\nv = b[p:p + n].decode()\np += n",
    "uuid": _N + "\nif n < 0: raise ValueError('negative length')\nv = b[p:p + n].decode()\np += n",
    "bytes": _N + "\nif n < 0: raise ValueError('negative length')\nv = b[p:p + n]\np += n",
    "long": _N + "\nv = n",
    "int": _N + "\nv = n",
    "boolean": "v = b[p] != 0\np += 1",
    "double": "(v,) = _DOUBLE.unpack_from(b, p)\np += 8",
    "float": "(v,) = _FLOAT.unpack_from(b, p)\np += 4",
    "timestamp-micros": _N + "\nv = _EPOCH + _timedelta(microseconds=n)",
    "timestamp-millis": _N + "\nv = _EPOCH + _timedelta(milliseconds=n)",
}


def _field_source(ftype: Any, enums: list[tuple[str, ...]]) -> str | None:
    """Statements that read one field's value into `v`, or None when its type is not supported."""
    parts = field_parts(ftype)
    kind = value_kind(parts[1]) if parts is not None else None
    if parts is None or kind is None:
        return None
    if kind == "enum":
        enums.append(tuple(parts[1]["symbols"]))
        body = _N + f"\nif n < 0: raise ValueError('negative enum index')\nv = _ENUM{len(enums) - 1}[n]"
    else:
        body = _SOURCE[kind]
    null_index = parts[0]
    if null_index is None:
        return body
    indented = "\n".join("    " + line for line in body.splitlines())
    return (f"c = b[p]\np += 1\nif c == {null_index << 1}:\n    v = None\nelif c == {(1 - null_index) << 1}:\n"
            f"{indented}\nelse:\n    raise ValueError('union branch ' + str(c))")


def compile_record_decoder(schema: dict[str, Any]) -> Callable[[bytes, int], dict[str, Any]] | None:
    """A decoder of a flat record schema's binary body starting at an offset (written with this same schema), or
    None if unsupported. Corrupt or truncated input raises (ValueError, IndexError, UnicodeDecodeError)."""
    if schema.get("type") != "record":
        return None
    enums: list[tuple[str, ...]] = []
    lines = ["def decode(b, p):", "    out = {}"]
    for field in schema["fields"]:
        body = _field_source(field["type"], enums)
        if body is None:
            return None
        lines.extend("    " + line for line in body.splitlines())
        lines.append(f"    out[{field['name']!r}] = v")
    lines.append("    if p > len(b): raise ValueError('truncated record')")
    lines.append("    return out")
    namespace: dict[str, Any] = {
        "_long": _long, "_EPOCH": _EPOCH, "_timedelta": timedelta, "_DOUBLE": _DOUBLE, "_FLOAT": _FLOAT,
        **{f"_ENUM{i}": symbols for i, symbols in enumerate(enums)},
    }
    exec(compile("\n".join(lines), f"<avro decoder {schema.get('name')}>", "exec"), namespace)
    decoder: Callable[[bytes, int], dict[str, Any]] = namespace["decode"]
    return decoder

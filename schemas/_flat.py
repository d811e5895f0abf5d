"""What the compiled Avro encoder and decoder (`_fastenc`, `_fastdec`) accept: flat records of primitives, enums,
logical timestamps/uuids, and unions of one of those with null."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DOUBLE = struct.Struct("<d")
FLOAT = struct.Struct("<f")
PRIMITIVES = frozenset({"string", "long", "int", "boolean", "bytes", "double", "float"})
_LOGICAL = {"timestamp-micros": "long", "timestamp-millis": "long", "uuid": "string"}


def value_kind(schema: Any) -> str | None:
    """A primitive name, a logical type name, "enum", or None when the generated code does not handle `schema`."""
    if isinstance(schema, str):
        return schema if schema in PRIMITIVES else None
    if not isinstance(schema, dict):
        return None
    logical, kind = schema.get("logicalType"), schema.get("type")
    if logical is not None:
        return str(logical) if _LOGICAL.get(logical) == kind else None
    if kind == "enum":
        return "enum"
    return kind if isinstance(kind, str) and kind in PRIMITIVES else None


def field_parts(ftype: Any) -> tuple[int | None, Any] | None:
    """(index of "null" in the field's union, or None when it is no union; the value schema), or None when the
    union is not ["null", X] / [X, "null"]."""
    if not isinstance(ftype, list):
        return None, ftype
    if len(ftype) != 2 or "null" not in ftype:
        return None
    null_index = ftype.index("null")
    return null_index, ftype[1 - null_index]

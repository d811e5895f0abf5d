"""JSON responses serialised with orjson (Decimals as strings, datetimes as ISO 8601) and ETags."""

from __future__ import annotations

import dataclasses
import hashlib
from decimal import Decimal
from typing import Any

import orjson
from fastapi import Request, Response


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(data: Any) -> bytes:
    """JSON bytes of plain data and dataclasses."""
    return orjson.dumps(data, default=_default, option=orjson.OPT_NON_STR_KEYS)


def plain(data: Any) -> Any:
    """Dataclasses to dicts (orjson serialises them natively; this is for code that edits the result)."""
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        return dataclasses.asdict(data)
    return data


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


def etagged(request: Request, data: Any) -> Response:
    """A single resource with a strong ETag; `If-None-Match` with the same tag answers 304 without a body."""
    body = dumps(data)
    tag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    wanted = request.headers.get("if-none-match", "")
    if tag in {t.strip() for t in wanted.split(",")} or wanted.strip() == "*":
        return Response(status_code=304, headers={"ETag": tag})
    return Response(body, media_type="application/json", headers={"ETag": tag})

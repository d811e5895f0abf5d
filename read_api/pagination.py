"""Cursor pagination (opaque cursors), the list shape of every collection, and sorting."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import orjson
from fastapi import Response

from read_api.errors import ApiError
from read_api.responses import JsonResponse

T = TypeVar("T")
MAX_LIMIT = 500


def encode_cursor(state: dict[str, Any]) -> str:
    """An opaque cursor (url-safe base64 of JSON); clients pass it back unchanged."""
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any]:
    if not cursor:
        return {}
    try:
        state = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise ApiError(400, "malformed cursor", code="bad_cursor") from None
    if not isinstance(state, dict):
        raise ApiError(400, "malformed cursor", code="bad_cursor")
    return state


def page(items: Sequence[Any], next_cursor: str | None) -> Response:
    """The list shape of every collection: `{"items": [...], "next_cursor": ...}`."""
    return JsonResponse({"items": list(items), "next_cursor": next_cursor})


def sort_items(items: list[T], sort: str | None, allowed: Sequence[str], key: Callable[[T, str], Any]) -> list[T]:
    """Sort by `field` or `-field` (one of `allowed`); None values last."""
    if not sort:
        return items
    field, reverse = sort.removeprefix("-"), sort.startswith("-")
    if field not in allowed:
        raise ApiError(422, f"cannot sort by {field!r}", details={"sortable": list(allowed)})
    present = [i for i in items if key(i, field) is not None]
    missing = [i for i in items if key(i, field) is None]
    return sorted(present, key=lambda i: key(i, field), reverse=reverse) + missing


def offset_page(items: list[T], cursor: str | None, limit: int) -> tuple[list[T], str | None]:
    """Page through a fully fetched, ordered window: the cursor holds the offset (adapter for query functions
    that take only `limit`; see docs/api.md)."""
    offset = int(decode_cursor(cursor).get("o", 0))
    chunk = items[offset:offset + limit]
    more = len(items) > offset + limit
    return chunk, encode_cursor({"o": offset + limit}) if more else None


def offset_of(cursor: str | None) -> int:
    value = decode_cursor(cursor).get("o", 0)
    if not isinstance(value, int) or value < 0:
        raise ApiError(400, "malformed cursor", code="bad_cursor")
    return value


WINDOW = 5000  # rows an offset-paged list reads at most when it must filter or sort in the API


async def windowed(fetch: Callable[[int], Awaitable[list[dict[str, Any]]]], cursor: str | None, limit: int, *,
                   keep: Callable[[dict[str, Any]], bool] | None = None, sort: str | None = None,
                   sortable: Sequence[str] = ()) -> Response:
    """A page of a list whose query function takes only `limit`: offset cursor; filters and sorting the query
    function cannot do run here over at most WINDOW rows (see docs/api.md, "Adapters")."""
    offset = offset_of(cursor)
    whole = keep is not None or bool(sort)
    rows = await fetch(WINDOW if whole else offset + limit + 1)
    if keep is not None:
        rows = [r for r in rows if keep(r)]
    rows = sort_items(rows, sort, sortable, lambda r, f: r.get(f))
    chunk, next_cursor = offset_page(rows, cursor, limit)
    return page(chunk, next_cursor)

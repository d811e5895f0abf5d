"""Shared parameter types and the command helper of the routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Query, Request, Response

from read_api.auth import Principal
from read_api.commands import respond
from read_api.deps import api_state

Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page")]
Sort = Annotated[str | None, Query(description="field to sort by; prefix with - for descending")]
Payload = Annotated[dict[str, Any], Body(description="the command's payload, validated by the owning domain")]
OptionalPayload = Annotated[dict[str, Any] | None, Body(description="optional payload")]


async def command(request: Request, principal: Principal, domain: str, command_type: str, aggregate_id: str | None,
                  payload: dict[str, Any]) -> Response:
    """Publish a domain command and answer with its outcome (200/201), 202 while it runs, or its 4xx."""
    command_id, outcome = await api_state(request).bus.send(domain, command_type, aggregate_id, payload, principal)
    return respond(command_id, outcome)


def merged(payload: dict[str, Any] | None, **ids: Any) -> dict[str, Any]:
    """The body with the ids from the path (the path wins)."""
    return {**(payload or {}), **{k: v for k, v in ids.items() if v is not None}}

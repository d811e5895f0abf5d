"""Response models that the OpenAPI document names (collections share the `{"items", "next_cursor"}` shape)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class TokenResponse(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str
    role: str
    driver_id: str | None = None
    username: str = ""


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class Error(BaseModel):
    error: ErrorBody


class CommandAccepted(BaseModel):
    command_id: str
    status: str
    result: Any = None


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Error} for code in (400, 401, 403, 404, 409, 422, 500, 503)}

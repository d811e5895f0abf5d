"""Errors of the read API and their one JSON shape: `{"error": {"code", "message", "details"}}`.

    ApiError                 raised by routes and dependencies; carries the HTTP status and a stable code
      ├── NotFound           404 not_found
      ├── Forbidden          403 forbidden
      └── Unavailable        503 unavailable (a domain's store or query module is not reachable)
Every other error (FastAPI/Starlette HTTP errors, request validation, unexpected exceptions) is translated to the
same shape by the handlers `install` registers.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from csms.logs import get_logger
from read_api.responses import JsonResponse

log = get_logger(__name__)

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid", 429: "too_many_requests",
          500: "internal", 502: "bad_gateway", 503: "unavailable", 504: "timeout"}


class ApiError(Exception):
    """An error answered as JSON with `status`, a stable `code` and human `message`."""

    def __init__(self, status: int, message: str, *, code: str | None = None, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.code = code or _CODES.get(status, "error")
        self.details, self.headers = details, headers


class NotFound(ApiError):
    def __init__(self, what: str) -> None:
        super().__init__(404, f"{what} not found")


class Forbidden(ApiError):
    def __init__(self, message: str = "this role may not do that") -> None:
        super().__init__(403, message)


class Unavailable(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(503, message)


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> JsonResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return JsonResponse(body, status_code=status, headers=headers)


async def _api_error(_: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


async def _http_error(_: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, _CODES.get(exc.status_code, "error"), str(exc.detail), None, headers)


async def _validation_error(_: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, RequestValidationError)
    details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
    return error_response(422, "invalid", "the request is not valid", details)


async def _unexpected(request: Request, exc: Exception) -> JsonResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", "internal server error")


def install(app: FastAPI) -> None:
    """Register the handlers that give every 4xx/5xx the one error shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)

"""Lean routes: a hot GET route that FastAPI documents as usual but serves without its per-request solving.

FastAPI solves every parameter and dependency of a route per request by walking its dependant tree; for the
station list (11 query parameters and the auth dependency chain) that walk cost more CPU than the SQL it ran. A lean
route declares the same things once: the `roles` it admits and a pydantic `query` model whose fields are the
documented query parameters. OpenAPI is generated from an ordinary endpoint with exactly that signature
(`Annotated[Principal, allow(*roles)]` and `Annotated[query, Query()]`); at request time `LeanRoute` instead runs
`authorize` (the same check as `allow`), validates the query string with the model in one pydantic call and calls
the handler. The answers are the ones FastAPI would give, errors included: 401/403 first, then 422 with
`loc: ["query", <field>]` (tests/unit/read_api/test_lean_routes.py runs both paths on the same requests).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from read_api.auth import Principal, allow, authorize

Q = TypeVar("Q", bound=BaseModel)
Handler = Callable[[Request, Principal, Q], Awaitable[Response]]


def parse_query(model: type[Q], query_string: bytes) -> Q:
    """The query string validated by `model`: the last value of a repeated name wins (as in FastAPI), and an
    invalid value is a `RequestValidationError` located in the query."""
    values = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]) from None


class LeanRoute(APIRoute):
    """An APIRoute whose endpoint carries a `lean` handler (set by `lean_get`): that handler serves requests."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        roles, model, handler = self.endpoint.lean  # type: ignore[attr-defined]
        assert isinstance(roles, tuple) and issubclass(model, BaseModel) and callable(handler)

        async def serve(request: Request) -> Response:
            principal = await authorize(request, roles)
            response: Response = await handler(request, principal, parse_query(model, request.scope["query_string"]))
            return response

        return serve


def lean_get(router: APIRouter, path: str, *, roles: tuple[str, ...], query: type[Q], summary: str,
             **route: Any) -> Callable[[Handler[Q]], Handler[Q]]:
    """Register `handler(request, principal, query)` as a lean GET route of `router` (see the module docstring)."""

    def register(handler: Handler[Q]) -> Handler[Q]:
        async def endpoint(request: Request, principal: Principal, params: BaseModel) -> Response:
            return await handler(request, principal, params)  # type: ignore[arg-type]

        # the documented signature: what FastAPI would solve per request, and what OpenAPI describes
        endpoint.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
            inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
            inspect.Parameter("principal", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              annotation=Annotated[Principal, allow(*roles)]),
            inspect.Parameter("params", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              annotation=Annotated[query, Query()]),
        ], return_annotation=Response)
        endpoint.__name__, endpoint.__doc__ = handler.__name__, handler.__doc__
        endpoint.lean = (roles, query, handler)  # type: ignore[attr-defined]
        router.add_api_route(path, endpoint, methods=["GET"], summary=summary, route_class_override=LeanRoute,
                             **route)
        return handler

    return register

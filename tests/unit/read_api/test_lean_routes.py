"""A lean route (read_api.lean) answers exactly as FastAPI would for the same declaration: the same route is served
once by `LeanRoute` and once by a plain `APIRoute` built from its documented endpoint, and every request below
(valid, invalid values, repeated names, no or bad credentials, a role not admitted) gets the same status and body
from both. The station list's OpenAPI entry still lists all its query parameters."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from read_api import ApiSettings, create_app, errors
from read_api.auth import READERS, AccessTokens, Principal, issue_access_token
from read_api.lean import LeanRoute, lean_get

SECRET = "lean-route-secret-" + "z" * 20


class Probe(BaseModel):
    status: str | None = Field(None, description="a status")
    online: bool | None = None
    q: str | None = Field(None, max_length=5)
    limit: int = Field(50, ge=1, le=500)


router = APIRouter(prefix="/probe")


@lean_get(router, "", roles=READERS, query=Probe, summary="a probe")
async def probe(request: Request, principal: Principal, query: Probe) -> Response:
    return Response(orjson.dumps({"role": principal.role, "query": query.model_dump()}), media_type="application/json")


def _app(*, lean: bool) -> FastAPI:
    app = FastAPI()
    errors.install(app)
    app.state.access_tokens = AccessTokens(SECRET)
    if lean:
        app.include_router(router)
    else:
        [route] = router.routes
        assert isinstance(route, LeanRoute)
        app.router.routes.append(APIRoute(route.path, route.endpoint, methods=["GET"]))
    return app


LEAN, PLAIN = _app(lean=True), _app(lean=False)


def _token(role: str, secret: str = SECRET) -> str:
    return issue_access_token(secret, Principal("u-1", role, "D-1" if role == "driver" else None), 60)


REQUESTS: list[tuple[str, str | None]] = [
    ("", "viewer"), ("?status=ACCEPTED&online=true&q=ab&limit=7", "admin"), ("?online=0", "operator"),
    ("?online=yes&limit=500", "viewer"), ("?limit=0", "viewer"), ("?limit=501", "viewer"), ("?limit=x", "viewer"),
    ("?online=maybe", "viewer"), ("?q=toolong", "viewer"), ("?limit=2&limit=3", "viewer"), ("?status=", "viewer"),
    ("?q=a%20b&unknown=1", "viewer"), ("?limit=0&online=maybe", "viewer"), ("", "driver"), ("?limit=0", "driver"),
    ("", None), ("?limit=0", None), ("", "forged"),
]


async def _get(app: FastAPI, query: str, role: str | None) -> httpx.Response:
    headers = {}
    if role == "forged":
        headers["Authorization"] = f"Bearer {_token('admin', 'another-secret-' + 'q' * 30)}"
    elif role is not None:
        headers["Authorization"] = f"Bearer {_token(role)}"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.get("/probe" + query, headers=headers)


@pytest.mark.parametrize(("query", "role"), REQUESTS)
async def test_the_lean_route_answers_as_fastapi_does(query, role):
    lean, plain = await _get(LEAN, query, role), await _get(PLAIN, query, role)
    assert (lean.status_code, lean.json()) == (plain.status_code, plain.json())
    assert lean.headers.get("www-authenticate") == plain.headers.get("www-authenticate")


async def test_the_answers_are_the_expected_ones():
    ok = await _get(LEAN, "?online=yes&limit=2&limit=3", "viewer")
    assert ok.json() == {"role": "viewer", "query": {"status": None, "online": True, "q": None, "limit": 3}}
    invalid = (await _get(LEAN, "?limit=0&online=maybe", "viewer")).json()["error"]
    assert invalid["code"] == "invalid"
    assert [d["loc"] for d in invalid["details"]] == [["query", "online"], ["query", "limit"]]
    assert (await _get(LEAN, "?limit=0", None)).status_code == 401
    assert (await _get(LEAN, "?limit=0", "driver")).status_code == 403


def test_the_station_list_documents_every_query_parameter():
    settings = ApiSettings(database_url="postgresql://nobody@127.0.0.1:1/none", admin_password="unused",
                           jwt_secret=SECRET)
    operation: dict[str, Any] = create_app(settings, start=False).openapi()["paths"]["/api/v1/stations"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert set(parameters) == {"status", "operator", "location", "connector_type", "online", "bbox", "near", "q",
                               "sort", "cursor", "limit"}
    assert all(p["in"] == "query" and p.get("description") for p in parameters.values())
    assert parameters["limit"]["schema"]["maximum"] == 500 and parameters["limit"]["schema"]["default"] == 50
    assert parameters["q"]["schema"]["anyOf"][0]["maxLength"] == 100
    assert {"401", "403", "422"} <= set(operation["responses"])

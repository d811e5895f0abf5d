"""Issue 8 §4 for the API's own description: `/openapi.json` and `/docs` need authentication like every route
(the role matrix covers the bearer token); a browser's `csms_docs` cookie is accepted on these two paths only."""

from __future__ import annotations

import httpx
import pytest

from read_api import ApiSettings, create_app
from read_api.auth import DOCS_COOKIE, Principal, issue_access_token

SECRET = "docs-auth-secret-" + "d" * 20
APP = create_app(ApiSettings(database_url="postgresql://nobody@127.0.0.1:1/none", admin_password="unused",
                             jwt_secret=SECRET), start=False)


async def _get(path: str, cookie: str | None) -> httpx.Response:
    cookies = {DOCS_COOKIE: cookie} if cookie else None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), base_url="http://test",
                                 cookies=cookies) as client:
        return await client.get(path)


def _token(role: str = "operator", secret: str = SECRET, now: float | None = None) -> str:
    return issue_access_token(secret, Principal("u-1", role), 60, now=now)


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
async def test_the_docs_cookie_opens_the_docs_and_nothing_else(path):
    assert (await _get(path, None)).status_code == 401
    assert (await _get(path, _token())).status_code == 200
    assert (await _get(path, _token(secret="another-secret-" + "x" * 30))).status_code == 401
    assert (await _get(path, _token(now=0))).status_code == 401  # expired
    assert (await _get("/api/v1/stations", _token())).status_code == 401
    assert (await _get("/api/v1/auth/me", _token())).status_code == 401


async def test_swagger_ui_loads_the_document_and_can_log_in():
    page = (await _get("/docs", _token("viewer"))).text
    assert "swagger-ui" in page and "/openapi.json" in page
    document = (await _get("/openapi.json", _token("driver"))).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["OAuth2Password"]["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"
    assert schemes["ApiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert {"OAuth2Password": []} in document["security"]
    assert "/openapi.json" not in document["paths"] and "/docs" not in document["paths"]
    assert "/api/v1/stations" in document["paths"]

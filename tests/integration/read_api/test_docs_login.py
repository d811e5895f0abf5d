"""A logged-in operator's browser opens Swagger UI: the login sets the HttpOnly, SameSite=Strict `csms_docs` cookie
(the access token, for `/docs` and `/openapi.json` only), and the refresh renews it."""

from __future__ import annotations

import pytest

from tests.read_api_env import ADMIN, PASSWORD

pytestmark = pytest.mark.integration


async def test_the_login_cookie_opens_the_docs_and_the_refresh_renews_it(api):
    async with api.client() as browser:
        assert (await browser.get("/docs")).status_code == 401
        login = await browser.post("/api/v1/auth/token", data={"username": ADMIN, "password": PASSWORD})
        cookie = login.headers["set-cookie"].lower()
        assert cookie.startswith("csms_docs=") and "httponly" in cookie and "samesite=strict" in cookie
        assert f"max-age={api.settings.access_token_ttl_s}" in cookie
        assert browser.cookies["csms_docs"] == login.json()["access_token"]
        assert (await browser.get("/docs")).status_code == 200
        assert "/api/v1/stations" in (await browser.get("/openapi.json")).json()["paths"]
        assert (await browser.get("/api/v1/auth/me")).status_code == 401  # the cookie opens the docs only
        renewed = await browser.post("/api/v1/auth/refresh", data={"refresh_token": login.json()["refresh_token"]})
        assert browser.cookies["csms_docs"] == renewed.json()["access_token"]

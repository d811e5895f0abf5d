"""Issue 8 §4: every route x every role. No credentials → 401; a role the route does not admit → 403; an admitted
role gets past authorization (whatever the handler then answers). The expected matrix is written out here, and
every route of the app must appear in it, so a new route cannot ship without its roles."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from read_api import ApiSettings, create_app
from read_api.auth import Principal, issue_access_token
from read_api.errors import Unavailable

SECRET = "unit-test-secret-" + "x" * 16
ALL = frozenset({"admin", "operator", "viewer", "driver"})
STAFF = frozenset({"admin", "operator"})
READERS = frozenset({"admin", "operator", "viewer"})
ADMIN = frozenset({"admin"})
PUBLIC = None

EXPECTED: dict[tuple[str, str], frozenset[str] | None] = {
    ("GET", "/openapi.json"): ALL, ("GET", "/docs"): ALL,
    ("GET", "/health"): PUBLIC, ("POST", "/api/v1/auth/token"): PUBLIC, ("POST", "/api/v1/auth/refresh"): PUBLIC,
    ("POST", "/api/v1/payments/webhook"): PUBLIC, ("GET", "/"): PUBLIC, ("GET", "/static/{name}"): PUBLIC,
    ("GET", "/api/v1/auth/me"): ALL,
    ("GET", "/api/v1/users"): ADMIN, ("POST", "/api/v1/users"): ADMIN,
    ("GET", "/api/v1/api-keys"): ADMIN, ("POST", "/api/v1/api-keys"): ADMIN,
    ("DELETE", "/api/v1/api-keys/{key_id}"): ADMIN,
    ("GET", "/api/v1/stations"): ALL, ("GET", "/api/v1/stations/{station_id}"): ALL,
    ("GET", "/api/v1/stations/{station_id}/status-history"): READERS,
    ("GET", "/api/v1/stations/{station_id}/connector-history"): READERS,
    ("GET", "/api/v1/stations/{station_id}/configuration"): READERS,
    ("POST", "/api/v1/stations"): STAFF, ("PATCH", "/api/v1/stations/{station_id}"): STAFF,
    ("DELETE", "/api/v1/stations/{station_id}"): ADMIN,
    ("POST", "/api/v1/stations/{station_id}/approve"): STAFF, ("POST", "/api/v1/stations/{station_id}/reject"): STAFF,
    ("POST", "/api/v1/stations/{station_id}/commands/{action}"): STAFF,
    ("GET", "/api/v1/locations"): ALL, ("POST", "/api/v1/locations"): STAFF,
    ("PUT", "/api/v1/locations/{location_id}"): STAFF,
    ("GET", "/api/v1/drivers"): READERS, ("GET", "/api/v1/drivers/{driver_id}"): ALL,
    ("POST", "/api/v1/drivers"): STAFF, ("PATCH", "/api/v1/drivers/{driver_id}"): STAFF,
    ("PUT", "/api/v1/drivers/{driver_id}/membership"): STAFF, ("DELETE", "/api/v1/drivers/{driver_id}"): ADMIN,
    ("GET", "/api/v1/tokens"): ALL, ("GET", "/api/v1/tokens/{token_key}"): ALL,
    ("GET", "/api/v1/tokens/{token_key}/history"): ALL, ("POST", "/api/v1/tokens"): STAFF,
    ("PATCH", "/api/v1/tokens/{token_key}"): STAFF, ("POST", "/api/v1/tokens/{token_key}/block"): ALL,
    ("POST", "/api/v1/tokens/{token_key}/unblock"): STAFF, ("POST", "/api/v1/tokens/{token_key}/transfer"): STAFF,
    ("DELETE", "/api/v1/tokens/{token_key}"): STAFF,
    ("GET", "/api/v1/tariffs"): ALL, ("GET", "/api/v1/tariffs/{tariff_id}"): ALL, ("POST", "/api/v1/tariffs"): STAFF,
    ("PUT", "/api/v1/tariffs/{tariff_id}"): STAFF, ("DELETE", "/api/v1/tariffs/{tariff_id}"): STAFF,
    ("POST", "/api/v1/tariffs/{tariff_id}/assignments"): STAFF,
    ("POST", "/api/v1/tariffs/{tariff_id}/unassignments"): STAFF,
    ("GET", "/api/v1/sessions"): ALL, ("GET", "/api/v1/sessions/{session_id}"): ALL,
    ("GET", "/api/v1/invoices"): ALL, ("GET", "/api/v1/invoices/{invoice_id}"): ALL,
    ("GET", "/api/v1/invoices/{invoice_id}/document"): ALL, ("POST", "/api/v1/invoices/{invoice_id}/payments"): ALL,
    ("POST", "/api/v1/invoices/{invoice_id}/credit-notes"): STAFF, ("POST", "/api/v1/invoices/monthly-runs"): ADMIN,
    ("GET", "/api/v1/payments/{payment_id}"): ALL,
    ("GET", "/api/v1/wallets/{driver_id}"): ALL, ("POST", "/api/v1/wallets/{driver_id}/top-ups"): STAFF,
    ("POST", "/api/v1/wallets/{driver_id}/refunds"): STAFF,
    ("GET", "/api/v1/alerts"): READERS, ("GET", "/api/v1/alerts/{alert_id}"): READERS,
    ("POST", "/api/v1/alerts/{alert_id}/acknowledge"): STAFF,
    ("GET", "/api/v1/alert-rules"): READERS, ("GET", "/api/v1/alert-rules/{rule_id}"): READERS,
    ("POST", "/api/v1/alert-rules"): STAFF, ("PATCH", "/api/v1/alert-rules/{rule_id}"): STAFF,
    ("DELETE", "/api/v1/alert-rules/{rule_id}"): STAFF,
    ("GET", "/api/v1/reports/{kind}"): READERS,
    ("GET", "/api/v1/commands/{command_id}"): ALL,
    ("GET", "/api/v1/schemas"): READERS, ("GET", "/api/v1/schemas/{name}"): READERS,
    ("GET", "/api/v1/live"): ALL,
    ("GET", "/api/v1/webhooks"): ADMIN, ("POST", "/api/v1/webhooks"): ADMIN,
    ("DELETE", "/api/v1/webhooks/{subscription_id}"): ADMIN,
    ("GET", "/api/v1/webhooks/{subscription_id}/deliveries"): ADMIN,
}
SAMPLE = {"driver_id": "D-1", "kind": "energy", "action": "Reset", "name": "app.js", "token_key": "ISO14443:AB12"}


class _Stub(SimpleNamespace):
    """App state with settings only: any store or Kafka access answers 503 (authorization comes first)."""

    def __getattr__(self, name: str) -> Any:
        raise Unavailable(f"{name} is not available in this test")


def _app() -> Any:
    settings = ApiSettings(database_url="postgresql://nobody@127.0.0.1:1/none", admin_password="unused",
                           jwt_secret=SECRET)
    app = create_app(settings, start=False)
    app.state.api = _Stub(settings=settings)
    return app


APP = _app()
ROUTES = sorted({(m, c.path) for c in iter_route_contexts(APP.routes) for m in (c.methods or ()) if m != "HEAD"})


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE.get(m.group(1), "X-1"), path)


def test_every_route_is_in_the_matrix():
    assert set(ROUTES) == set(EXPECTED)


async def _call(method: str, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=APP)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        body = None if method in ("GET", "DELETE") else {}
        return await client.request(method, _url(path), headers=headers, json=body)


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if EXPECTED.get(r) is not PUBLIC])
async def test_no_credentials_is_401(method, path):
    response = await _call(method, path, None)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("role", sorted(ALL))
@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if EXPECTED.get(r) is not PUBLIC])
async def test_roles(method, path, role):
    token = issue_access_token(SECRET, Principal("u-1", role, "D-1" if role == "driver" else None), 60)
    response = await _call(method, path, token)
    allowed = EXPECTED[(method, path)]
    assert allowed is not None
    if role in allowed:
        assert response.status_code not in (401, 403), response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "forbidden"


async def test_a_forged_or_expired_token_is_401():
    forged = issue_access_token("another-secret-" + "y" * 32, Principal("u-1", "admin"), 60)
    expired = issue_access_token(SECRET, Principal("u-1", "admin"), 60, now=0)
    for token in (forged, expired, "not-a-jwt"):
        response = await _call("GET", "/api/v1/stations", token)
        assert response.status_code == 401


@pytest.mark.parametrize("path", ["/api/v1/drivers/D-2", "/api/v1/wallets/D-2", "/api/v1/sessions?driver_id=D-2",
                                  "/api/v1/tokens?driver_id=D-2", "/api/v1/invoices?driver_id=D-2"])
async def test_a_driver_cannot_ask_for_another_drivers_data(path):
    token = issue_access_token(SECRET, Principal("u-1", "driver", "D-1"), 60)
    response = await _call("GET", path, token)
    assert response.status_code == 403

"""Reads through each domain's queries module: auth flow, pagination, filters, ETags, the error shape."""

from __future__ import annotations

import pytest

from tests.integration.read_api import _data as d

pytestmark = pytest.mark.integration


async def test_login_refresh_and_api_keys(api, admin_token):
    async with api.client() as c:
        bad = await c.post("/api/v1/auth/token", data={"username": "admin", "password": "wrong"})
        assert bad.status_code == 401
        assert bad.json()["error"]["code"] == "unauthorized"
        tokens = (await c.post("/api/v1/auth/token", data={"username": "admin", "password": "admin-password-for-tests"}
                               )).json()
        again = await c.post("/api/v1/auth/refresh", data={"refresh_token": tokens["refresh_token"]})
        assert again.status_code == 200
        reused = await c.post("/api/v1/auth/refresh", data={"refresh_token": tokens["refresh_token"]})
        assert reused.status_code == 401  # rotation: a refresh token works once
    async with api.client(admin_token) as c:
        assert (await c.get("/api/v1/auth/me")).json()["role"] == "admin"
        key = (await c.post("/api/v1/api-keys", json={"name": "crm", "role": "viewer"})).json()
    async with api.client() as c:
        assert (await c.get("/api/v1/stations", headers={"X-API-Key": key["api_key"]})).status_code == 200
        assert (await c.post("/api/v1/stations", json={}, headers={"X-API-Key": key["api_key"]})).status_code == 403
        assert (await c.get("/api/v1/stations", headers={"X-API-Key": key["api_key"] + "x"})).status_code == 401


async def test_error_bodies_have_one_shape(api, admin_token):
    async with api.client(admin_token) as c:
        for response, status in ((await c.get("/api/v1/nothing-here"), 404),
                                 (await c.get("/api/v1/stations?limit=0"), 422),
                                 (await c.get("/api/v1/stations/NOPE"), 404),
                                 (await c.get("/api/v1/stations?cursor=%%%"), 400),
                                 (await c.delete("/health"), 405)):
            assert response.status_code == status
            assert set(response.json()["error"]) == {"code", "message", "details"}


async def test_stations_page_filter_and_etag(api, admin_token):
    op = d.uid("OP")
    ids = sorted(d.uid("CS") for _ in range(5))
    for i, sid in enumerate(ids):
        await d.station(api, sid, operator=op, lat=52.0 + i / 10, lon=13.0, status="PENDING" if i == 0 else "ACCEPTED",
                        connector_type="CHADEMO" if i == 1 else "CCS2")
    async with api.client(admin_token) as c:
        first = (await c.get("/api/v1/stations", params={"operator": op, "limit": 2})).json()
        second = (await c.get("/api/v1/stations", params={"operator": op, "limit": 2,
                                                           "cursor": first["next_cursor"]})).json()
        third = (await c.get("/api/v1/stations", params={"operator": op, "limit": 2,
                                                          "cursor": second["next_cursor"]})).json()
        assert [s["id"] for s in first["items"] + second["items"] + third["items"]] == ids
        assert third["next_cursor"] is None
        pending = (await c.get("/api/v1/stations", params={"operator": op, "status": "PENDING"})).json()
        assert [s["id"] for s in pending["items"]] == ids[:1]
        chademo = (await c.get("/api/v1/stations", params={"operator": op, "connector_type": "CHADEMO"})).json()
        assert [s["id"] for s in chademo["items"]] == ids[1:2]
        boxed = (await c.get("/api/v1/stations", params={"operator": op, "bbox": "52.15,12.9,52.45,13.1"})).json()
        assert [s["id"] for s in boxed["items"]] == ids[2:5]
        near = (await c.get("/api/v1/stations", params={"operator": op, "near": "52.0,13.0,5000"})).json()
        assert [s["id"] for s in near["items"]] == ids[:1]
        one = await c.get(f"/api/v1/stations/{ids[0]}")
        assert one.json()["evses"][0]["connectors"][0]["status"] == "Available"
        cached = await c.get(f"/api/v1/stations/{ids[0]}", headers={"If-None-Match": one.headers["etag"]})
        assert cached.status_code == 304


async def test_a_driver_sees_only_their_own_tokens(api, admin_token):
    mine, theirs = d.uid("D"), d.uid("D")
    for driver in (mine, theirs):
        await d.driver(api, driver)
    my_key = await d.token(api, d.uid("T"), mine)
    their_key = await d.token(api, d.uid("T"), theirs)
    async with api.client(admin_token) as c:
        created = await c.post("/api/v1/users", json={"username": mine, "password": "driver-password",
                                                      "role": "driver", "driver_id": mine})
        assert created.status_code == 201
    driver_token = await api.login(mine, "driver-password")
    async with api.client(driver_token) as c:
        listed = (await c.get("/api/v1/tokens")).json()
        assert [t["token_key"] for t in listed["items"]] == [my_key]
        assert (await c.get(f"/api/v1/tokens/{my_key}")).status_code == 200
        assert (await c.get(f"/api/v1/tokens/{their_key}")).status_code == 403
        assert (await c.post(f"/api/v1/tokens/{their_key}/block", json={})).status_code == 403
        assert (await c.get("/api/v1/alerts")).status_code == 403


async def test_catalogue_reports_and_empty_lists(api, admin_token):
    async with api.client(admin_token) as c:
        schemas = (await c.get("/api/v1/schemas", params={"limit": 500})).json()
        names = {s["name"] for s in schemas["items"]}
        assert {"csms.common.Command", "csms.ocpp.OcppCommand"} <= names
        one = await c.get("/api/v1/schemas/csms.common.Command")
        assert one.json()["schema"]["name"] == "csms.common.Command"
        report = await c.get("/api/v1/reports/energy", params={"start": "2026-01-01", "end": "2026-02-01"})
        assert report.status_code == 200
        assert report.json()["items"] == []
        csv = await c.get("/api/v1/reports/availability", params={"format": "csv"})
        assert csv.headers["content-type"].startswith("text/csv")
        for path in ("/api/v1/sessions", "/api/v1/invoices", "/api/v1/tariffs", "/api/v1/alerts",
                     "/api/v1/alert-rules", "/api/v1/locations", "/api/v1/drivers"):
            response = await c.get(path)
            assert response.status_code == 200, (path, response.text)
            assert set(response.json()) == {"items", "next_cursor"}
        assert (await c.get("/api/v1/sessions", params={"sort": "nope"})).status_code == 422

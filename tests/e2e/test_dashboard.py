"""The operators' dashboard in a real browser (issue 8): login, the fleet updating live, a remote stop with its
outcome from the edge, and blocking a card through the real authorization processor."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

import pytest
from playwright.async_api import expect

from processors.authorization import AuthorizationSettings, spec
from tests.integration import domain_support as s
from tests.integration.read_api import _data as d
from tests.integration.read_api.test_commands import _answer_charger_command
from tests.read_api_env import ADMIN, PASSWORD

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def _login(page) -> None:
    await page.goto("/")
    await page.get_by_label("Username").fill(ADMIN)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator("#nav")).to_be_visible()


async def test_login_rejects_a_wrong_password_then_shows_the_fleet(page, api):
    sid = d.uid("CS")
    await d.station(api, sid, lat=52.5, lon=13.4)
    await page.goto("/")
    await page.get_by_label("Username").fill(ADMIN)
    await page.get_by_label("Password").fill("wrong")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    await _login(page)
    await expect(page.locator(f'tr[data-station="{sid}"]')).to_be_visible()
    await expect(page.locator(f'circle[data-dot="{sid}"]')).to_have_count(1)


async def test_the_fleet_view_updates_live_when_a_connector_changes_status(page, api):
    sid = d.uid("CS")
    await d.station(api, sid)
    await _login(page)
    row = page.locator(f'tr[data-station="{sid}"]')
    await expect(row).to_be_visible()
    await expect(page.locator("#live-state")).to_have_text("live")
    async with api.feed() as feed:  # the stations processor's event for a charger's StatusNotification
        await feed.send("stations.events", sid, "csms.stations.ConnectorStatusChanged", {
            "station_id": sid, "evse_id": 1, "connector_id": 1, "status": "Faulted", "previous_status": "Available",
            "error_code": "GroundFailure", "charger_timestamp": None, "received_at": datetime.now(UTC)})
    await expect(row.locator('[data-col="live"]')).to_have_text("1/1 Faulted", timeout=10_000)


async def test_sending_a_remote_stop_shows_the_chargers_answer(page, api):
    sid = d.uid("CS")
    await d.station(api, sid, version="ocpp1.6")
    await _login(page)
    await page.goto(f"/#/station/{sid}")
    await page.get_by_label("Action", exact=True).fill("RemoteStopTransaction")
    await page.get_by_label("Payload (JSON)").fill('{"transactionId": 42}')
    edge = asyncio.create_task(_answer_charger_command(api, sid, {"status": "Accepted"}))
    await page.get_by_role("button", name="Send").click()
    command = await asyncio.wait_for(edge, 20)
    await expect(page.locator("#outcome")).to_contain_text('"Accepted"')
    assert command["action"] == "RemoteStopTransaction"


async def test_blocking_a_token(page, api):
    driver = d.uid("D")
    await d.driver(api, driver)
    key = await d.token(api, d.uid("CARD"), driver)
    settings = AuthorizationSettings(database_url=api.urls["drivers"], kafka=api.settings.kafka, http_port=0)
    async with s.running(spec(settings), settings):
        await _login(page)
        await page.goto("/#/tokens")
        row = page.locator(f'tr[data-token="{key}"]')
        await row.get_by_role("button", name="Block").click()
        await expect(row.locator('[data-col="status"]')).to_have_text("BLOCKED", timeout=15_000)
    rows = await api.sql("drivers", "select status from id_tokens where token_key = $1", key)
    assert rows[0]["status"] == "BLOCKED"
    await page.reload()
    await expect(page.locator(f'tr[data-token="{key}"] [data-col="status"]')).to_have_text(re.compile("BLOCKED"))

"""Browser tests: Debian's chromium (scripts/install_chromium.sh) driven by Playwright, against a running API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import async_playwright

from tests.read_api_env import ApiEnv, running_api

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
async def api(real_infra) -> AsyncIterator[ApiEnv]:
    async with running_api(real_infra, command_timeout_s=10.0) as env:
        yield env


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Any, api: ApiEnv) -> AsyncIterator[Any]:
    context = await browser.new_context(base_url=api.base_url)
    tab = await context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    await context.close()
    assert errors == []

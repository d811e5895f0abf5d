from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.read_api_env import ApiEnv, running_api


@pytest.fixture(scope="module")
async def api(real_infra) -> AsyncIterator[ApiEnv]:
    async with running_api(real_infra, command_timeout_s=2.0, webhook_backoff_s=0.2) as env:
        yield env


@pytest.fixture(scope="module")
async def admin_token(api: ApiEnv) -> str:
    return await api.login()

"""`python -m read_api` with CSMS_API_WORKERS=2: the parent migrates once, both workers serve the one port, and
SIGTERM stops them all."""

from __future__ import annotations

import asyncio
import os
import sys

import httpx
import psutil
import pytest

from tests.read_api_env import ADMIN, PASSWORD, prepared

pytestmark = pytest.mark.integration


async def test_two_workers_serve_the_api(real_infra):
    async with prepared(real_infra) as (settings, _urls):
        env = {**os.environ, "CSMS_API_DATABASE_URL": settings.database_url,
               "CSMS_API_STATIONS_DATABASE_URL": settings.domain_url("stations"),
               "CSMS_API_DRIVERS_DATABASE_URL": settings.domain_url("drivers"),
               "CSMS_API_BILLING_DATABASE_URL": settings.domain_url("billing"),
               "CSMS_API_MONITORING_DATABASE_URL": settings.domain_url("monitoring"),
               "CSMS_API_KAFKA__BOOTSTRAP": settings.kafka.bootstrap,
               "CSMS_API_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix, "CSMS_API_ADMIN_PASSWORD": PASSWORD,
               "CSMS_API_JWT_SECRET": settings.jwt_secret.get_secret_value(),
               "CSMS_API_HTTP_PORT": str(settings.http_port), "CSMS_API_LOG_LEVEL": "WARNING",
               "CSMS_API_POOL_SIZE": "2", "CSMS_API_WORKERS": "2"}
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "read_api", env=env)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http_port}", timeout=10) as client:
                for _ in range(600):
                    try:
                        if (await client.get("/health")).json()["status"] == "ok":
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
                workers = [c for c in psutil.Process(proc.pid).children()
                           if "multiprocessing.spawn" in " ".join(c.cmdline()) and "resource_tracker" not in
                           " ".join(c.cmdline())]
                assert len(workers) == 2
                login = await client.post("/api/v1/auth/token", data={"username": ADMIN, "password": PASSWORD})
                headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
                # keep-alive off: new connections are spread over the workers by the kernel
                for _ in range(20):
                    listed = await client.get("/api/v1/stations?limit=5", headers={**headers, "Connection": "close"})
                    assert listed.status_code == 200 and listed.json() == {"items": [], "next_cursor": None}
        finally:
            proc.terminate()
            assert await asyncio.wait_for(proc.wait(), 30) == 0

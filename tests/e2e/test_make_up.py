"""`make up` end to end: the whole system from scripts, the demo fleet registered through the API and simulated,
sessions priced, then a clean stop on Ctrl-C (SIGINT). Runs on shifted ports so a developer's own `make up`
on the default ports is not disturbed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
OFFSET = 12_000  # ports stay below the ephemeral range (32768+), clear of the test broker (19092)
API = f"http://127.0.0.1:{3000 + OFFSET}"


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def test_make_up_runs_the_demo_fleet_and_stops_cleanly(tmp_path):
    with (tmp_path / "up.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "csms.cli", "up", "--port-offset", str(OFFSET), "--demo-stations", "6"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait(lambda: b"Ctrl-C stops everything" in (tmp_path / "up.log").read_bytes() or proc.poll() is not None,
              300, "the system to come up")
        output = (tmp_path / "up.log").read_text()
        assert proc.poll() is None, output[-3000:]
        assert "login: admin / csms-demo-admin" in output and f"127.0.0.1:{3000 + OFFSET}/" in output
        token = httpx.post(f"{API}/api/v1/auth/token",
                           data={"username": "admin", "password": "csms-demo-admin"}).json()["access_token"]
        with httpx.Client(base_url=API, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:

            def stations_online():
                items = client.get("/api/v1/stations", params={"limit": 50}).json()["items"]
                online = [s for s in items if s["online"]]
                return len(online) == 6 and {s["ocpp_version"] for s in online} == {"ocpp1.6", "ocpp2.0.1", "ocpp2.1"}

            _wait(stations_online, 90, "six demo stations of all three versions online")

            def priced_sessions():
                items = client.get("/api/v1/sessions", params={"limit": 50, "status": "COMPLETED"}).json()["items"]
                return [s for s in items if s["total_incl_vat"] is not None]

            priced = _wait(priced_sessions, 150, "a completed, priced session")
            assert priced[0]["tariff_id"] == "DEMO-AC-DC"
        page = httpx.get(f"{API}/")
        assert page.status_code == 200 and "<html" in page.text.lower()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        try:
            code = proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    output = (tmp_path / "up.log").read_text()
    assert "stopped." in output, output[-2000:]
    assert code == 0, output[-2000:]
    leftovers = subprocess.run(["pgrep", "-f", f"--port-offset {OFFSET}"], capture_output=True, text=True).stdout
    assert not leftovers.strip()

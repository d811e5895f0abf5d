"""Benchmark of the read API: `GET /api/v1/stations?limit=50` with 10,000 stations in the store, and the latency
from a ConnectorStatusChanged on `stations.events` to its Server-Sent Event on `/api/v1/live`.

    uv run python -m bench.read_api_bench [--stations 10000] [--seconds 20] [--concurrency 32] [--events 200]
                                          [--workers 1]

Uses the test broker and PostgreSQL (tests/infra.py); fresh databases and topics under a unique prefix. The API
runs as its own process (`python -m read_api`, `--workers` uvicorn workers), the load generator in this one: a minimal
keep-alive HTTP/1.1 client, so the generator costs as little CPU as possible on a small machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import orjson
import psutil

from tests import infra
from tests.integration.domain_support import Feed
from tests.read_api_env import ADMIN, PASSWORD, prepared

FILL = """
insert into stations (id, name, operator_id, latitude, longitude, status, registered_via, ocpp_version, online,
                      created_at, updated_at)
select 'CS-' || lpad(i::text, 6, '0'), 'Station ' || i, 'op-' || (i % 5), 48 + random() * 6, 6 + random() * 9,
       'ACCEPTED', 'COMMAND', 'ocpp1.6', random() < 0.9, now(), now()
from generate_series(1, $1::int) i;
"""
FILL_EVSES = """
insert into evses (station_id, evse_id) select 'CS-' || lpad(i::text, 6, '0'), 1 from generate_series(1, $1::int) i;
"""
FILL_CONNECTORS = """
insert into connectors (station_id, evse_id, connector_id, connector_type, status)
select 'CS-' || lpad(i::text, 6, '0'), 1, c, case when c = 1 then 'CCS2' else 'Type2' end,
       case when random() < 0.7 then 'Available' else 'Charging' end
from generate_series(1, $1::int) i, generate_series(1, 2) c;
"""


def api_env(settings: Any, workers: int = 1) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "CSMS_API_DATABASE_URL": settings.database_url,
        "CSMS_API_STATIONS_DATABASE_URL": settings.stations_database_url,
        "CSMS_API_DRIVERS_DATABASE_URL": settings.drivers_database_url,
        "CSMS_API_BILLING_DATABASE_URL": settings.billing_database_url,
        "CSMS_API_MONITORING_DATABASE_URL": settings.monitoring_database_url,
        "CSMS_API_KAFKA__BOOTSTRAP": settings.kafka.bootstrap,
        "CSMS_API_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "CSMS_API_ADMIN_PASSWORD": PASSWORD, "CSMS_API_JWT_SECRET": settings.jwt_secret.get_secret_value(),
        "CSMS_API_HTTP_PORT": str(settings.http_port), "CSMS_API_LOG_LEVEL": "WARNING", "CSMS_API_POOL_SIZE": "10",
        "CSMS_API_WORKERS": str(workers),
    })
    return env


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


class CpuMeter:
    """CPU seconds (user + system) used by the API's processes, the PostgreSQL backends serving it, this load
    generator, and the whole box, between `start()` and `stop()`: the per-request cost of each, and how much of
    the box the rest of the machine (other work) took meanwhile."""

    def __init__(self, api_pid: int, backend_pids: list[int]) -> None:
        self._api = psutil.Process(api_pid)
        self._backends = [psutil.Process(p) for p in backend_pids]
        self._me = psutil.Process()
        self._start: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        api = [self._api, *self._api.children(recursive=True)]
        box = psutil.cpu_times()
        return {"api": _cpu(api), "postgres": _cpu(self._backends), "generator": _cpu([self._me]),
                "box": box.user + box.system + box.nice + box.irq + box.softirq + getattr(box, "steal", 0.0),
                "wall": time.perf_counter()}

    def start(self) -> None:
        self._start = self._read()

    def stop(self, requests: int) -> dict[str, Any]:
        end = self._read()
        used = {k: end[k] - self._start[k] for k in end}
        wall, n = used.pop("wall"), max(requests, 1)
        others = used["box"] - used["api"] - used["postgres"] - used["generator"]
        return {**{f"{k}_ms_per_request": used[k] * 1000 / n for k in ("api", "postgres", "generator")},
                **{f"{k}_cores": used[k] / wall for k in ("api", "postgres", "generator", "box")},
                "others_cores": others / wall, "box_cores_total": psutil.cpu_count()}


def _cpu(processes: list[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


async def load(port: int, token: str, seconds: float, concurrency: int, path: str = "/api/v1/stations?limit=50",
               meter: CpuMeter | None = None) -> dict[str, Any]:
    raw = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                if await _request(reader, writer, raw) != 200:
                    errors += 1
                latencies.append(time.perf_counter() - started)
        finally:
            writer.close()

    if meter is not None:
        meter.start()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    cpu = meter.stop(len(latencies)) if meter is not None else None
    q = statistics.quantiles(latencies, n=1000)
    return {"requests": len(latencies), "errors": errors, "rps": len(latencies) / elapsed,
            "p50_ms": q[499] * 1000, "p99_ms": q[989] * 1000, "p999_ms": q[998] * 1000,
            "max_ms": max(latencies) * 1000, **({"cpu": cpu} if cpu else {})}


async def live_latency(settings: Any, token: str, events: int) -> dict[str, Any]:
    port, station = settings.http_port, f"BENCH-{uuid.uuid4().hex[:6]}"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /api/v1/live?station_id={station} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                 "\r\n".encode())
    await reader.readuntil(b": connected\n\n")
    sent: dict[str, float] = {}
    latencies: list[float] = []

    async def receive() -> None:
        while len(latencies) < events:
            line = await reader.readline()
            if line.startswith(b"id: ") and line[4:].strip().decode() in sent:
                latencies.append(time.perf_counter() - sent[line[4:].strip().decode()])

    receiving = asyncio.create_task(receive())
    async with Feed(settings.kafka) as feed:
        for i in range(events):
            event_id = str(uuid.uuid4())
            sent[event_id] = time.perf_counter()
            await feed.send("stations.events", station, "csms.stations.ConnectorStatusChanged", {
                "event_id": event_id, "station_id": station, "evse_id": 1, "connector_id": 1,
                "status": "Charging" if i % 2 else "Available", "previous_status": None, "error_code": None,
                "charger_timestamp": None, "received_at": datetime.now(UTC)})
            await feed.flush()
            await asyncio.sleep(0.02)
    await asyncio.wait_for(receiving, 30)
    writer.close()
    q = statistics.quantiles(latencies, n=100)
    return {"events": len(latencies), "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000, "max_ms": max(latencies) * 1000}


async def _backend_pids(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("select pid from pg_stat_activity where datname = current_database() "
                                "and pid <> pg_backend_pid()")
        return [r["pid"] for r in rows]
    finally:
        await conn.close()


async def main(args: argparse.Namespace, real: infra.Infra) -> None:
    async with prepared(real) as (settings, urls):
        conn = await asyncpg.connect(urls["stations"])
        for sql in (FILL, FILL_EVSES, FILL_CONNECTORS):
            await conn.execute(sql, args.stations)
        await conn.execute("analyze")
        await conn.close()
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "read_api",
                                                    env=api_env(settings, args.workers))
        try:
            base = f"http://127.0.0.1:{settings.http_port}"
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                for _ in range(300):
                    try:
                        if (await client.get("/health")).json()["status"] == "ok":
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
                token = (await client.post("/api/v1/auth/token", data={"username": ADMIN, "password": PASSWORD})
                         ).json()["access_token"]
                first = (await client.get("/api/v1/stations?limit=50", headers={"Authorization": f"Bearer {token}"}))
                assert len(first.json()["items"]) == 50
            await load(settings.http_port, token, 3, args.concurrency)  # warm-up: every pooled connection opened
            meter = CpuMeter(proc.pid, await _backend_pids(urls["stations"]))
            load_before = os.getloadavg()[0]
            result = await load(settings.http_port, token, args.seconds, args.concurrency, meter=meter)
            result["load_average_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
            live = await live_latency(settings, token, args.events)
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 20)
    print(orjson.dumps({"stations": args.stations, "concurrency": args.concurrency, "workers": args.workers,
                        "at": datetime.now(UTC).isoformat(timespec="seconds"), "list": result, "live": live},
                       option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes of the API")
    arguments = parser.parse_args()
    asyncio.run(main(arguments, infra.start()))  # start() blocks and runs its own event loop

"""A charger's status change to the dashboard's live feed, end to end (issue 8: <= 500 ms p99).

    uv run python -m bench.live_feed_e2e --stations 50 --changes 600 --rate 20

Starts the whole system as `make up` does (`csms up --no-demo`, on shifted ports so it runs beside anything else:
its own Kafka and PostgreSQL, the edge, the four processors, the read API), registers `--stations` OCPP 1.6
stations through the API, connects one charger per station to the edge (BootNotification, then Available), opens
`/api/v1/live` as the admin, and sends StatusNotifications (Available <-> Preparing, round robin over the
stations, `--rate` per second). Latency = the charger's send of the frame -> its `connector_status` event read by
the SSE client: edge, durable publish, the stations processor, `stations.events`, the API's consumer and the
stream. A change not seen within 10 s counts as lost. `after_edge` is the part after the edge read the frame (the
event's `received_at` to the SSE client).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime
from typing import Any

import orjson
import websockets
from websockets.typing import Subprotocol

from csms.demo import _Api
from csms.kafka import make_consumer
from csms.settings import KafkaSettings
from csms.system import DEMO_ADMIN
from schemas import AvroCodec

STATUSES = ("Available", "Preparing")


def start_system(offset: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "csms.cli", "up", "--no-demo", "--port-offset", str(offset)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ})
    assert proc.stdout is not None
    deadline = time.monotonic() + 600
    for raw in proc.stdout:
        line = raw.decode(errors="replace").rstrip()
        print("  |", line, flush=True)
        if line.startswith("CSMS is up"):
            # the services log to this pipe too: keep draining it, or they block once it is full
            threading.Thread(target=collections.deque, args=(proc.stdout, 0), daemon=True).start()
            return proc
        if time.monotonic() > deadline or proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("the system did not come up")


def register(api: _Api, stations: list[str]) -> None:
    for sid in stations:
        api.command("/api/v1/stations", {
            "station_id": sid, "name": sid, "operator_id": "bench", "security_profile": 0,
            "heartbeat_interval_s": 300, "allowed_ocpp_versions": ["ocpp1.6"],
            "evses": [{"evse_id": 1, "connectors": [{"connector_id": 1, "connector_type": "TYPE_2"}]}]})


class Charger:
    def __init__(self, ws: Any, station_id: str) -> None:
        self.ws, self.station_id = ws, station_id

    async def call(self, action: str, payload: dict[str, Any]) -> Any:
        mid = uuid.uuid4().hex[:16]
        await self.ws.send(orjson.dumps([2, mid, action, payload]).decode())
        while True:
            frame = orjson.loads(await self.ws.recv())
            if frame[0] == 3 and frame[1] == mid:
                return frame[2]
            if frame[0] == 2:  # a CSMS call (none expected): answer generically so the edge is not held up
                await self.ws.send(orjson.dumps([4, frame[1], "NotImplemented", "bench", {}]).decode())

    async def status(self, status: str) -> None:
        await self.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": status})


ocpp_stamps: dict[tuple[str, str], float] = {}  # the edge's answer's record timestamp by (station, status)
event_stamps: dict[tuple[str, str], float] = {}  # stations.events record timestamp by (station, status)


async def tap(kafka_port: int, tapped: dict[str, dict[tuple[str, str], float]], stages: dict[str, list[float]]) -> None:
    """Where the time goes: the record timestamps (set by each producer) of the edge's StatusNotification answer on
    ocpp.messages and of the stations processor's ConnectorStatusChanged on stations.events."""
    codec = AvroCodec()
    consumer = make_consumer(KafkaSettings(bootstrap=f"127.0.0.1:{kafka_port}"), "ocpp.messages", "stations.events",
                             group_id=None, auto_offset_reset="latest")
    await consumer.start()
    try:
        while True:
            for tp, records in (await consumer.getmany(timeout_ms=200)).items():
                for r in records:
                    headers = dict(r.headers)
                    if tp.topic == "ocpp.messages":
                        if (headers.get("ocpp_type"), headers.get("ocpp_action")) != (b"CALLRESULT",
                                                                                        b"StatusNotification"):
                            continue
                        value = codec.decode(r.value).value
                        key = (value["station_id"], orjson.loads(value["request_payload_json"])["status"])
                        at = tapped["ocpp.messages"].pop(key, None)
                        if at is not None:
                            stages["edge"].append(r.timestamp / 1000 - at)
                            ocpp_stamps[key] = r.timestamp / 1000
                    elif r.value is not None:
                        decoded = codec.decode(r.value)
                        if not decoded.schema.endswith("ConnectorStatusChanged"):
                            continue
                        key = (decoded.value["station_id"], decoded.value["status"])
                        before = ocpp_stamps.pop(key, None)
                        if before is not None:
                            stages["stations"].append(r.timestamp / 1000 - before)
                            event_stamps[key] = r.timestamp / 1000
    finally:
        await consumer.stop()


async def measure(args: argparse.Namespace, offset: int) -> dict[str, Any]:
    api_port, edge_port = 3000 + offset, 4000 + offset
    api = _Api(f"http://127.0.0.1:{api_port}", *DEMO_ADMIN)
    stations = [f"LIVE-{i:05d}" for i in range(args.stations)]
    register(api, stations)
    token = api.client.headers["Authorization"].removeprefix("Bearer ")
    await asyncio.sleep(2)  # the registry reaches the edge

    chargers = []
    for sid in stations:
        ws = await websockets.connect(f"ws://127.0.0.1:{edge_port}/ocpp/{sid}", subprotocols=[Subprotocol("ocpp1.6")])
        charger = Charger(ws, sid)
        boot = await charger.call("BootNotification", {"chargePointModel": "bench", "chargePointVendor": "csms"})
        if boot.get("status") != "Accepted":
            raise SystemExit(f"{sid} was not accepted: {boot}")
        await charger.status(STATUSES[0])
        chargers.append(charger)

    reader, writer = await asyncio.open_connection("127.0.0.1", api_port)
    writer.write(f"GET /api/v1/live?kinds=connector_status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                 "\r\n".encode())
    await reader.readuntil(b": connected\n\n")
    await asyncio.sleep(3)  # the initial Available changes drain
    sent: dict[tuple[str, str], float] = {}
    latencies: list[float] = []
    after_edge: list[float] = []
    all_sent, all_seen = False, asyncio.Event()

    async def receive() -> None:
        while True:
            line = await reader.readline()
            if not line.startswith(b"data: "):
                continue
            data = orjson.loads(line[6:])["data"]
            at = sent.pop((data["station_id"], data["status"]), None)
            if at is not None:
                latencies.append(time.perf_counter() - at)
                # the part after the edge read the frame (received_at is the edge's clock, the same machine)
                after_edge.append(time.time() - datetime.fromisoformat(data["received_at"]).timestamp())
                stamped = event_stamps.pop((data["station_id"], data["status"]), None)
                if stamped is not None:
                    stages["api"].append(time.time() - stamped)
            if all_sent and not sent:
                all_seen.set()

    stages: dict[str, list[float]] = {"answer": [], "edge": [], "stations": [], "api": []}
    tapped: dict[str, dict[tuple[str, str], float]] = {"ocpp.messages": {}, "stations.events": {}}
    tap_task = asyncio.create_task(tap(edge_port - 4000 + 9092, tapped, stages))
    await asyncio.sleep(2)
    receiving = asyncio.create_task(receive())
    current = {c.station_id: 0 for c in chargers}
    interval = 1 / args.rate
    started = time.perf_counter()
    for n in range(args.changes):
        charger = chargers[n % len(chargers)]
        current[charger.station_id] ^= 1
        status = STATUSES[current[charger.station_id]]
        sent[(charger.station_id, status)] = time.perf_counter()
        for pending in tapped.values():
            pending[(charger.station_id, status)] = time.time()
        asked = time.perf_counter()
        await charger.status(status)
        stages["answer"].append(time.perf_counter() - asked)  # the charger's wait: the edge answers once durable
        delay = started + (n + 1) * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    all_sent = True
    if sent:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_seen.wait(), 10)
    for task in (receiving, tap_task):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    writer.close()
    for charger in chargers:
        await charger.ws.close()
    batches = stations_batches(api.client.get(f"http://127.0.0.1:{3001 + offset}/metrics").text)
    q, e = statistics.quantiles(latencies, n=100), statistics.quantiles(after_edge, n=100)
    return {"changes": args.changes, "seen": len(latencies), "lost": len(sent), "p50_ms": round(q[49] * 1000, 1),
            "p99_ms": round(q[98] * 1000, 1), "max_ms": round(max(latencies) * 1000, 1),
            "after_edge_p50_ms": round(e[49] * 1000, 1), "after_edge_p99_ms": round(e[98] * 1000, 1),
            "load_avg": os.getloadavg(), "stations_batches": batches, "stages_p50_p99_ms": {
                name: [round(x * 1000, 1) for x in (statistics.median(v), statistics.quantiles(v, n=100)[98])]
                for name, v in stages.items() if len(v) > 1}}


def stations_batches(metrics: str) -> dict[str, float]:
    """The stations processor's own account: batches applied and their mean time (decode, handlers, commit)."""
    found = {}
    for line in metrics.splitlines():
        for name in ("csms_processor_batch_seconds_sum", "csms_processor_batch_seconds_count"):
            if line.startswith(name + "{"):
                found[name.rsplit("_", 1)[1]] = float(line.rsplit(" ", 1)[1])
    count = found.get("count", 0.0)
    return {"batches": count, "mean_ms": round(found.get("sum", 0.0) / count * 1000, 1) if count else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--changes", type=int, default=600)
    parser.add_argument("--rate", type=float, default=20.0, help="status changes per second")
    parser.add_argument("--port-offset", type=int, default=300, help="shift of every port (beside other systems)")
    args = parser.parse_args()
    system = start_system(args.port_offset)
    try:
        result = asyncio.run(measure(args, args.port_offset))
    finally:
        system.send_signal(signal.SIGINT)
        try:
            system.wait(timeout=90)
        except subprocess.TimeoutExpired:
            system.kill()
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()

"""One simulated charger speaking raw OCPP-J over a WebSocket (light enough for 10,000 per machine)."""

from __future__ import annotations

import asyncio
import itertools
import random
import ssl
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from bench.sim import payloads as pl


@dataclass
class ChargerStats:
    latencies: list[float] = field(default_factory=list)
    sent: int = 0
    errors: int = 0
    sessions: int = 0
    connected: int = 0
    served: int = 0  # connected + booted + status answered


class Charger:
    def __init__(self, url: str, station_id: str, version: str, token: str, stats: ChargerStats,
                 *, connectors: int = 1, record_latency: bool = True) -> None:
        self.url, self.station_id, self.version, self.token = url, station_id, version, token
        self.stats, self.connectors, self.record_latency = stats, connectors, record_latency
        self.ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self.meter_wh = random.randint(100_000, 5_000_000)
        self.accepted = False
        self.csms_calls = 0
        self._pending: dict[str, asyncio.Future[list[Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.tls: ssl.SSLContext | None = None  # wss:// when set
        self.retries = 0  # upgrades refused with 503/429 and tried again

    async def connect(self) -> None:
        """Open the socket, retrying a refused upgrade (503/429) after its Retry-After like a well-behaved charger:
        in a storm the edge's admission pacing refuses what it cannot take yet."""
        while True:
            try:
                self.ws = await websockets.connect(f"{self.url}/{self.station_id}",
                                                   subprotocols=[Subprotocol(self.version)], open_timeout=120,
                                                   ping_interval=None, max_queue=4, compression=None, ssl=self.tls)
                break
            except InvalidStatus as refused:
                if refused.response.status_code not in (429, 503):
                    raise
                self.retries += 1
                await asyncio.sleep(float(refused.response.headers.get("Retry-After", "1")))
        self.stats.connected += 1
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        """Resolve our pending calls; answer the CSMS's calls at once (so idle chargers obey commands)."""
        assert self.ws is not None
        try:
            async for raw in self.ws:
                frame = orjson.loads(raw)
                if frame[0] == 2:
                    self.csms_calls += 1
                    await self.ws.send(orjson.dumps([3, frame[1], self.answer_csms(frame[2], frame[3])]).decode())
                    continue
                future = self._pending.pop(frame[1], None)
                if future is not None and not future.done():
                    future.set_result(frame)
        except websockets.ConnectionClosed:
            pass
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("socket closed"))

    async def call(self, action: str, payload: dict[str, Any]) -> Any:
        """Send a CALL and wait for its answer; None when the answer is a CALLERROR."""
        assert self.ws is not None
        message_id = str(next(self._ids))
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        started = time.perf_counter()
        await self.ws.send(orjson.dumps([2, message_id, action, payload]).decode())
        self.stats.sent += 1
        frame = await asyncio.wait_for(future, 120)
        if self.record_latency:
            self.stats.latencies.append(time.perf_counter() - started)
        if frame[0] == 4:
            self.stats.errors += 1
            return None
        return frame[2]

    def answer_csms(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action in ("GetConfiguration",):
            return {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}
        if action in ("GetVariables",):
            return {"getVariableResult": [{"attributeStatus": "Accepted", "component": v["component"],
                                           "variable": v["variable"], "attributeValue": "1"}
                                          for v in payload.get("getVariableData", [])]}
        if action == "DataTransfer":
            return {"status": "Accepted"}
        if action in ("TriggerMessage", "Reset", "UnlockConnector", "ChangeAvailability", "RemoteStartTransaction",
                      "RemoteStopTransaction", "RequestStartTransaction", "RequestStopTransaction",
                      "ChangeConfiguration", "ClearCache", "SetChargingProfile", "ClearChargingProfile",
                      "SendLocalList", "ReserveNow", "CancelReservation", "CostUpdated"):
            if action == "UnlockConnector":
                return {"status": "Unlocked"}
            return {} if action == "CostUpdated" else {"status": "Accepted"}
        return {"status": "Accepted"}

    async def boot(self) -> None:
        answer = await self.call("BootNotification", pl.boot(self.version, self.station_id))
        self.accepted = bool(answer) and answer.get("status") == "Accepted"
        if self.accepted:
            for connector in range(1, self.connectors + 1):
                await self.call("StatusNotification", pl.status(self.version, connector, "Available"))
        self.stats.served += 1

    async def session(self, *, meter_interval: float, samples: int, values_per_sample: int = 10) -> None:
        """Authorize, start, `samples` meter values, stop."""
        connector = random.randint(1, self.connectors)
        await self.call("Authorize", pl.authorize(self.version, self.token))
        await self.call("StatusNotification", pl.status(self.version, connector, "Preparing"))
        tx: int | str
        if self.version == pl.V16:
            answer = await self.call("StartTransaction", pl.start(self.version, connector, self.token,
                                                                  self.meter_wh, "", 0))
            if not answer:
                return
            tx = answer["transactionId"]
        else:
            tx = uuid.uuid4().hex[:20]
            await self.call("TransactionEvent", pl.start(self.version, connector, self.token, self.meter_wh, tx, 0))
        await self.call("StatusNotification", pl.status(self.version, connector, "Charging"))
        power = random.choice([7_400, 11_000, 22_000, 50_000])
        for seq in range(1, samples + 1):
            await asyncio.sleep(meter_interval)
            self.meter_wh += int(power * meter_interval / 3600) + 1
            if self.version == pl.V16:
                await self.call("MeterValues", pl.meter_values(self.version, connector, tx, self.meter_wh, power,
                                                               values_per_sample))
            else:
                await self.call("TransactionEvent", pl.update(self.version, str(tx), seq, self.meter_wh, power,
                                                              values_per_sample))
        await self.call("StopTransaction" if self.version == pl.V16 else "TransactionEvent",
                        pl.stop(self.version, tx, self.token, self.meter_wh, samples + 1))
        await self.call("StatusNotification", pl.status(self.version, connector, "Available"))
        self.stats.sessions += 1

    async def meter_stream(self, rate: float, until: float, values: int = 10) -> None:
        """Send MeterValues at `rate` per second until `until` (monotonic), for throughput benchmarks."""
        period = 1.0 / rate
        next_at = time.monotonic() + random.random() * period
        while next_at < until:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            self.meter_wh += 10
            payload = pl.meter_values(self.version, 1, None, self.meter_wh, 11_000, values)
            await self.call("MeterValues", payload)
            next_at += period

    async def heartbeat(self) -> None:
        await self.call("Heartbeat", {})

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

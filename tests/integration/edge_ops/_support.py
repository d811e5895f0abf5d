"""Helpers for the edge-operations tests: commands in, outcomes out, a scriptable charger, edge processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from csms.kafka import make_consumer, make_producer
from csms.settings import KafkaSettings
from schemas import AvroCodec

Answer = Callable[[str, dict[str, Any]], tuple[Any, ...] | None]


def command(station_id: str, action: str, payload: dict[str, Any], *, expires_in: float | None = None
            ) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"event_id": str(uuid.uuid4()), "command_id": f"cmd-{uuid.uuid4().hex[:12]}", "station_id": station_id,
            "action": action, "payload_json": orjson.dumps(payload).decode(), "requested_at": now,
            "expires_at": now + timedelta(seconds=expires_in) if expires_in is not None else None,
            "requested_by": "tests"}


async def publish_commands(kafka: KafkaSettings, *values: dict[str, Any]) -> None:
    codec = AvroCodec()
    producer = make_producer(kafka)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(kafka.topic_prefix + "ocpp.commands",
                                         codec.encode("csms.ocpp.OcppCommand", value),
                                         key=value["station_id"].encode(),
                                         headers=codec.headers("csms.ocpp.OcppCommand", value["event_id"]))
    finally:
        await producer.stop()


async def outcomes(kafka: KafkaSettings, command_ids: set[str], *, timeout: float = 15, settle: float = 0.0
                   ) -> dict[str, list[dict[str, Any]]]:
    """Every outcome of `command_ids`, read until each has one (then `settle` more seconds, to catch doubles)."""
    codec = AvroCodec()
    consumer = make_consumer(kafka, kafka.topic_prefix + "ocpp.command-outcomes", group_id=None)
    await consumer.start()
    found: dict[str, list[dict[str, Any]]] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=100)
            for record in (r for part in batch.values() for r in part):
                value = codec.decode(record.value).value
                if value["command_id"] in command_ids:
                    found.setdefault(value["command_id"], []).append(value)
            if set(found) >= command_ids:
                deadline = min(deadline, loop.time() + settle)
                if settle == 0:
                    break
    finally:
        await consumer.stop()
    return found


def always_accept(action: str, payload: dict[str, Any]) -> tuple[Any, ...] | None:
    return ("result", {} if action == "CostUpdated" else {"status": "Accepted"})


class ScriptedCharger:
    """A raw OCPP-J client that records the CSMS's calls and answers them as `answer` says
    (("result", payload), ("error", code, description), or None: no answer); `call` sends one of its own."""

    def __init__(self, url: str, station_id: str, version: str = "ocpp1.6", answer: Answer = always_accept,
                 **connect: Any) -> None:
        self.url, self.station_id, self.version, self.answer, self.connect_kwargs = (
            url, station_id, version, answer, connect)
        self.received: list[tuple[str, str, dict[str, Any]]] = []
        self.ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._replies: dict[str, asyncio.Future[list[Any]]] = {}

    async def call(self, action: str, payload: dict[str, Any], timeout: float = 10) -> list[Any]:
        """Send a CALL and return the CSMS's reply frame."""
        assert self.ws is not None
        message_id = uuid.uuid4().hex
        reply = self._replies[message_id] = asyncio.get_running_loop().create_future()
        await self.ws.send(orjson.dumps([2, message_id, action, payload]).decode())
        return await asyncio.wait_for(reply, timeout)

    async def __aenter__(self) -> ScriptedCharger:
        self.ws = await websockets.connect(f"{self.url}/{self.station_id}", subprotocols=[self.version],
                                           **self.connect_kwargs)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def _read(self) -> None:
        assert self.ws is not None
        async for raw in self.ws:
            frame = orjson.loads(raw)
            if frame[0] != 2:
                waiting = self._replies.pop(frame[1], None)
                if waiting is not None and not waiting.done():
                    waiting.set_result(frame)
                continue
            self.received.append((frame[1], frame[2], frame[3]))
            reply = self.answer(frame[2], frame[3])
            if reply is None:
                continue
            if reply[0] == "result":
                await self.ws.send(orjson.dumps([3, frame[1], reply[1]]).decode())
            else:
                await self.ws.send(orjson.dumps([4, frame[1], reply[1], reply[2], {}]).decode())


class EdgeProcess:
    """`python -m ocpp_edge` in its own process (the way production runs it)."""

    def __init__(self, kafka: KafkaSettings, spool: Path, edge_id: str, port: int, http_port: int,
                 **env: str) -> None:
        self.edge_id, self.port, self.http_port = edge_id, port, http_port
        self.env = {**os.environ, "CSMS_EDGE_KAFKA__BOOTSTRAP": kafka.bootstrap,
                    "CSMS_EDGE_KAFKA__TOPIC_PREFIX": kafka.topic_prefix, "CSMS_EDGE_PORT": str(port),
                    "CSMS_EDGE_HTTP_PORT": str(http_port), "CSMS_EDGE_EDGE_ID": edge_id,
                    "CSMS_EDGE_SPOOL_DIR": str(spool), "CSMS_EDGE_LOG_LEVEL": "WARNING", **env}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "ocpp_edge"], env=self.env)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, "edge process exited"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"edge {self.edge_id} not ready")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

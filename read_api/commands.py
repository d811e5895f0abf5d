"""Writes are commands (DESIGN.md decision 7): publish, wait up to a timeout for the outcome, answer HTTP.

One consumer per API process reads `commands.outcomes` and `ocpp.command-outcomes` from their end (no consumer
group: every instance sees every outcome) and resolves the waiting request's future by command id. It is
positioned at the end of every partition *before* the first command is sent, so no outcome can be missed. Every
command and outcome is also recorded in the API's own store, so `GET /api/v1/commands/{id}` answers after a 202,
from any instance, and after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi import Response
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.kafka import make_consumer, make_producer, send_with_timeout
from csms.logs import get_logger
from read_api import store
from read_api.auth import Principal
from read_api.errors import ApiError
from read_api.responses import JsonResponse
from read_api.settings import ApiSettings
from schemas import AvroCodec, DecodeError, TopicCatalog

log = get_logger(__name__)
DOMAIN_TOPICS = {"stations": "stations.commands", "authorization": "auth.commands", "billing": "billing.commands",
                 "monitoring": "monitoring.commands"}
OUTCOME_TOPICS = ("commands.outcomes", "ocpp.command-outcomes")
DOMAIN_STATUS = {"OK": 200, "CREATED": 201, "INVALID": 422, "NOT_FOUND": 404, "CONFLICT": 409, "FORBIDDEN": 403,
                 "FAILED": 500, "UNKNOWN": 500}
# how a charger command ended → HTTP: the charger's answer is a 200 whatever its status field says
OCPP_STATUS = {"RESULT": 200, "CALLERROR": 502, "TIMEOUT": 504, "NOT_CONNECTED": 409, "EXPIRED": 504,
               "INVALID": 422, "UNKNOWN": 500}


@dataclass(frozen=True)
class Outcome:
    command_id: str
    domain: str  # the owning domain, or "ocpp" for a charger command
    command_type: str
    status: str
    result: Any = None
    error: str | None = None
    aggregate_id: str | None = None

    @property
    def http_status(self) -> int:
        return (OCPP_STATUS if self.domain == "ocpp" else DOMAIN_STATUS).get(self.status, 500)


def outcome_of(schema: str, value: dict[str, Any]) -> Outcome:
    """An outcome from a decoded `csms.common.CommandOutcome` or `csms.ocpp.OcppCommandOutcome`."""
    result = orjson.loads(value["result_json"]) if value.get("result_json") else None
    if schema == "csms.ocpp.OcppCommandOutcome":
        error = " ".join(p for p in (value.get("error_code"), value.get("error_description")) if p) or None
        return Outcome(value["command_id"], "ocpp", value["action"], value["status"], result, error,
                       value["station_id"])
    return Outcome(value["command_id"], value["domain"], value["command_type"], value["status"], result,
                   value.get("error_message"), value.get("aggregate_id"))


def respond(command_id: str, outcome: Outcome | None) -> Response:
    """200/201 with the result, 202 with the command id while it runs, or the outcome's error."""
    if outcome is None:
        return JsonResponse({"command_id": command_id, "status": "PENDING"}, status_code=202,
                            headers={"Location": f"/api/v1/commands/{command_id}"})
    code = outcome.http_status
    if code < 300:
        return JsonResponse({"command_id": command_id, "status": outcome.status, "result": outcome.result},
                            status_code=code)
    raise ApiError(code, outcome.error or f"{outcome.command_type} ended {outcome.status}",
                   code=outcome.status.lower(),
                   details={"command_id": command_id, "command_type": outcome.command_type, "result": outcome.result})


class CommandBus:
    """Publishes commands and waits for their outcomes."""

    def __init__(self, settings: ApiSettings, topics: TopicCatalog, codec: AvroCodec, engine: AsyncEngine) -> None:
        self.settings, self.topics, self.codec, self.engine = settings, topics, codec, engine
        self._waiting: dict[str, asyncio.Future[Outcome]] = {}
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._producer = make_producer(self.settings.kafka)
        await self._producer.start()
        self._consumer = make_consumer(self.settings.kafka, *(self.topics.name(t) for t in OUTCOME_TOPICS),
                                       group_id=None, auto_offset_reset="latest")
        await self._consumer.start()
        await _at_end(self._consumer)
        self._task = asyncio.create_task(self._run(), name="read-api-command-outcomes")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()

    async def send(self, domain: str, command_type: str, aggregate_id: str | None, payload: dict[str, Any],
                   principal: Principal, *, timeout: float | None = None) -> tuple[str, Outcome | None]:
        """Publish a `csms.common.Command` to `<domain>.commands`; the outcome, or None if it is still running."""
        command_id, now = str(uuid.uuid4()), datetime.now(UTC)
        value = {"event_id": str(uuid.uuid4()), "command_id": command_id, "command_type": command_type,
                 "aggregate_id": aggregate_id, "payload_json": orjson.dumps(payload).decode(),
                 "requested_by": principal.subject, "requested_at": now}
        key = aggregate_id or command_id
        return command_id, await self._publish(DOMAIN_TOPICS[domain], "csms.common.Command", key, value, domain,
                                               timeout)

    async def send_ocpp(self, station_id: str, action: str, payload: dict[str, Any], principal: Principal,
                        *, timeout: float | None = None) -> tuple[str, Outcome | None]:
        """Publish a `csms.ocpp.OcppCommand` for the edge holding the charger; the outcome or None."""
        command_id, now = str(uuid.uuid4()), datetime.now(UTC)
        value = {"event_id": str(uuid.uuid4()), "command_id": command_id, "station_id": station_id,
                 "action": action, "payload_json": orjson.dumps(payload).decode(), "requested_at": now,
                 "expires_at": now + timedelta(seconds=self.settings.ocpp_command_ttl_s),
                 "requested_by": principal.subject}
        return command_id, await self._publish("ocpp.commands", "csms.ocpp.OcppCommand", station_id, value, "ocpp",
                                               timeout)

    async def _publish(self, topic: str, schema: str, key: str, value: dict[str, Any], domain: str,
                       timeout: float | None) -> Outcome | None:
        if self._producer is None:
            raise ApiError(503, "the command bus is not started")
        command_id = value["command_id"]
        command_type = value.get("command_type") or value["action"]
        async with self.engine.begin() as conn:
            await conn.execute(sa.insert(store.commands).values(
                command_id=command_id, domain=domain, command_type=command_type,
                aggregate_id=value.get("aggregate_id") or value.get("station_id"),
                requested_by=value["requested_by"], requested_at=value["requested_at"], status="PENDING"))
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting[command_id] = future
        try:
            try:
                await send_with_timeout(self._producer, self.settings.kafka.send_timeout_s, self.topics.name(topic),
                                        self.codec.encode(schema, value), key=key.encode(),
                                        headers=self.codec.headers(schema, value["event_id"]))
            except Exception as exc:
                await self._record(Outcome(command_id, domain, command_type, "FAILED", error="not published"))
                raise ApiError(503, "the command could not be published to Kafka") from exc
            try:
                return await asyncio.wait_for(future, timeout or self.settings.command_timeout_s)
            except TimeoutError:
                return None
        finally:
            self._waiting.pop(command_id, None)

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=1000, max_records=500)
            outcomes = []
            for records in batch.values():
                for record in records:
                    try:
                        decoded = self.codec.decode(record.value or b"")
                        outcomes.append(outcome_of(decoded.schema, decoded.value))
                    except (DecodeError, KeyError, ValueError) as exc:
                        log.warning("skipping an unreadable outcome at %s:%s: %s", record.topic, record.offset, exc)
            for outcome in outcomes:
                future = self._waiting.get(outcome.command_id)
                if future is not None and not future.done():
                    future.set_result(outcome)
            if outcomes:
                try:
                    await self._record(*outcomes)
                except Exception:
                    log.exception("could not record %d command outcomes", len(outcomes))

    async def _record(self, *outcomes: Outcome) -> None:
        c = store.commands
        async with self.engine.begin() as conn:
            for o in outcomes:
                await conn.execute(sa.update(c).where(c.c.command_id == o.command_id, c.c.status == "PENDING").values(
                    status=o.status, result=o.result, error=o.error, completed_at=sa.func.now()))

    async def status(self, command_id: str) -> dict[str, Any] | None:
        c = store.commands
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(c).where(c.c.command_id == command_id))).first()
        return None if row is None else dict(row._mapping)


async def _at_end(consumer: AIOKafkaConsumer, wait_s: float = 15.0) -> None:
    """Wait for the partitions to be assigned and fix each position at the current end."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while not consumer.assignment():
        if loop.time() > deadline:
            raise RuntimeError("no partitions were assigned to the outcome consumer")
        await asyncio.sleep(0.05)
    await consumer.seek_to_end()
    for tp in consumer.assignment():
        await consumer.position(tp)

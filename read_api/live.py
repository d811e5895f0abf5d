"""The live feed: one consumer per API process on the domain topics, fanned out to SSE clients and webhooks.

Topics (topics.yaml): `stations.events` (connector status, station online/offline and registration changes),
`billing.sessions` (compacted session state: progress and running cost), `monitoring.alerts` (alert transitions).
Read from their end, without a consumer group. A slow client never blocks the others: its queue drops the oldest
event when full (it sees a `dropped` count on the next event).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer

from csms.kafka import make_consumer
from csms.logs import get_logger
from read_api.auth import Principal
from schemas import AvroCodec, DecodeError, TopicCatalog

log = get_logger(__name__)
LIVE_TOPICS = ("stations.events", "billing.sessions", "monitoring.alerts")
KINDS = {
    "csms.stations.ConnectorStatusChanged": "connector_status",
    "csms.stations.StationWentOnline": "station_connectivity",
    "csms.stations.StationWentOffline": "station_connectivity",
    "csms.stations.StationStatusChanged": "station_status",
    "csms.stations.StationRegistered": "station_status",
    "csms.stations.StationUpdated": "station_status",
    "csms.billing.ChargingSessionState": "session",
    "csms.monitoring.AlertTransition": "alert",
}
PUBLIC_KINDS = frozenset({"connector_status", "station_connectivity"})  # availability is public to drivers too


@dataclass(frozen=True)
class LiveEvent:
    kind: str
    schema: str
    data: dict[str, Any]
    event_id: str
    received_at: float = field(default_factory=time.time)

    @property
    def station_id(self) -> str | None:
        value = self.data.get("station_id")
        return value if isinstance(value, str) else None

    def visible_to(self, principal: Principal) -> bool:
        """Drivers see availability and their own sessions; staff and viewers see everything."""
        if not principal.is_driver:
            return True
        if self.kind in PUBLIC_KINDS:
            return True
        return self.kind == "session" and principal.driver_id is not None and (
            self.data.get("driver_id") == principal.driver_id)


class Subscription:
    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[LiveEvent] = asyncio.Queue(size)
        self.dropped = 0

    def offer(self, event: LiveEvent) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)


class LiveHub:
    """Consumes the live topics and hands each event to every subscription."""

    def __init__(self, kafka: Any, topics: TopicCatalog, codec: AvroCodec, queue_size: int = 1000) -> None:
        self.kafka, self.topics, self.codec, self.queue_size = kafka, topics, codec, queue_size
        self._subs: set[Subscription] = set()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from read_api.commands import _at_end

        self._consumer = make_consumer(self.kafka, *(self.topics.name(t) for t in LIVE_TOPICS), group_id=None,
                                       auto_offset_reset="latest")
        await self._consumer.start()
        await _at_end(self._consumer)
        self._task = asyncio.create_task(self._run(), name="read-api-live")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    @contextlib.contextmanager
    def subscribe(self) -> Any:
        sub = Subscription(self.queue_size)
        self._subs.add(sub)
        try:
            yield sub
        finally:
            self._subs.discard(sub)

    def publish(self, event: LiveEvent) -> None:
        for sub in list(self._subs):
            sub.offer(event)

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=500, max_records=1000)
            for records in batch.values():
                for record in records:
                    if record.value is None:
                        continue
                    try:
                        decoded = self.codec.decode(record.value)
                    except DecodeError as exc:
                        log.warning("live feed skips %s:%s: %s", record.topic, record.offset, exc)
                        continue
                    kind = KINDS.get(decoded.schema)
                    if kind is not None:
                        self.publish(LiveEvent(kind, decoded.schema, decoded.value,
                                               str(decoded.value.get("event_id", ""))))


async def stream(hub: LiveHub, principal: Principal, kinds: set[str] | None, station_id: str | None,
                 is_disconnected: Any, heartbeat_s: float = 15.0) -> AsyncIterator[bytes]:
    """Server-Sent Events for one client: `event: <kind>` + `data: <json>` per visible event."""
    from read_api.responses import dumps

    with hub.subscribe() as sub:
        yield b": connected\n\n"
        while True:
            try:
                event = await asyncio.wait_for(sub.queue.get(), heartbeat_s)
            except TimeoutError:
                if await is_disconnected():
                    return
                yield b": keep-alive\n\n"
                continue
            if (kinds and event.kind not in kinds) or (station_id and event.station_id != station_id):
                continue
            if not event.visible_to(principal):
                continue
            body = dumps({"kind": event.kind, "schema": event.schema, "data": event.data, "dropped": sub.dropped})
            yield b"id: " + event.event_id.encode() + b"\nevent: " + event.kind.encode() + b"\ndata: " + body + b"\n\n"

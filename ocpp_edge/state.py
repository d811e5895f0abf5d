"""In-memory tables of the compacted topics the edge answers from (`stations.registry`, `auth.tokens`,
`auth.token-sessions`).

A consumer without a group reads every partition from the beginning; the edge is ready once it has reached the
end offsets it saw at start-up, and keeps applying updates afterwards (a processor's change is visible within the
consumer's fetch wait). Tombstones delete entries.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from csms.kafka import make_admin, make_consumer
from csms.logs import get_logger
from csms.settings import KafkaSettings
from schemas import AvroCodec, DecodeError, TopicCatalog

log = get_logger(__name__)
REGISTRY_TOPIC = "stations.registry"
TOKENS_TOPIC = "auth.tokens"
SESSIONS_TOPIC = "auth.token-sessions"


@dataclass
class EdgeState:
    """What the edge knows: stations by id, tokens by "<type>:<id>" and by id value, and the transactions each
    token has open on any edge (TokenSessions by token key)."""

    stations: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens_by_value: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    caught_up: bool = False
    last_update: float = 0.0

    def station(self, station_id: str) -> dict[str, Any] | None:
        return self.stations.get(station_id)

    def token(self, id_token: str, token_type: str | None) -> dict[str, Any] | None:
        """Exact "<type>:<id>" when the type is known (2.x); any type for a 1.6 idTag (ISO14443 first)."""
        if token_type is not None:
            found = self.tokens.get(f"{token_type}:{id_token}")
            if found is not None or token_type not in ("Local", "Central"):
                return found
        candidates = self.tokens_by_value.get(id_token)
        if not candidates:
            return None
        return candidates.get("ISO14443") or next(iter(candidates.values()))

    def apply(self, logical_topic: str, key: str, value: dict[str, Any] | None) -> None:
        self.last_update = time.monotonic()
        if logical_topic == REGISTRY_TOPIC:
            if value is None:
                self.stations.pop(key, None)
            else:
                self.stations[key] = value
        elif logical_topic == SESSIONS_TOPIC:
            if value is None:
                self.token_sessions.pop(key, None)
            else:
                self.token_sessions[key] = value
        elif logical_topic == TOKENS_TOPIC:
            old = self.tokens.pop(key, None)
            if old is not None:
                by_type = self.tokens_by_value.get(old["id_token"], {})
                by_type.pop(old["token_type"], None)
                if not by_type:
                    self.tokens_by_value.pop(old["id_token"], None)
            if value is not None:
                self.tokens[key] = value
                self.tokens_by_value.setdefault(value["id_token"], {})[value["token_type"]] = value


class StateMaterializer:
    """Keeps an `EdgeState` in step with the compacted topics."""

    def __init__(self, state: EdgeState, kafka: KafkaSettings, topics: TopicCatalog, codec: AvroCodec) -> None:
        self.state, self.kafka, self.topics, self.codec = state, kafka, topics, codec
        self.ready = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None

    async def run(self, stop: asyncio.Event) -> None:
        names = {self.topics.name(t): t for t in (REGISTRY_TOPIC, TOKENS_TOPIC, SESSIONS_TOPIC)}
        consumer = make_consumer(self.kafka, group_id=None, fetch_max_wait_ms=50)
        await consumer.start()
        self._consumer = consumer
        try:
            partitions = await self._partitions(list(names))
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            end = await consumer.end_offsets(partitions)
            remaining = {tp for tp, off in end.items() if off > 0}
            if not remaining:
                self._mark_ready()
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=200, max_records=5000)
                for tp, records in batch.items():
                    for record in records:
                        self._apply(names[tp.topic], record)
                    if tp in remaining and records[-1].offset + 1 >= end[tp]:
                        remaining.discard(tp)
                if remaining:
                    for tp in list(remaining):
                        if await consumer.position(tp) >= end[tp]:
                            remaining.discard(tp)
                if not remaining and not self.ready.is_set():
                    self._mark_ready()
        finally:
            await consumer.stop()

    async def _partitions(self, topics: list[str]) -> list[TopicPartition]:
        admin = make_admin(self.kafka)
        await admin.start()
        try:
            described = await admin.describe_topics(topics)
        finally:
            await admin.close()
        missing = [d["topic"] for d in described if d.get("error_code")]
        if missing:
            raise RuntimeError(f"state topics missing: {missing}; run `csms topics apply`")
        return [TopicPartition(d["topic"], part["partition"]) for d in described for part in d["partitions"]]

    def _mark_ready(self) -> None:
        self.state.caught_up = True
        self.ready.set()
        log.info("edge state caught up", stations=len(self.state.stations), tokens=len(self.state.tokens))

    def _apply(self, logical: str, record: Any) -> None:
        key = record.key.decode() if record.key is not None else None
        if key is None:
            return
        if record.value is None:
            self.state.apply(logical, key, None)
            return
        try:
            decoded = self.codec.decode(record.value)
        except DecodeError as exc:
            log.error("undecodable state record ignored", topic=logical, offset=record.offset, error=str(exc))
            return
        self.state.apply(logical, key, decoded.value)

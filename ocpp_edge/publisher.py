"""Publishes the edge's events: durable before the charger is answered (DESIGN.md decision 4).

`publish_durable` returns once Kafka acked (idempotent producer, acks=all) within `durable_timeout_s`, or once the
records are fsync'd in the local spool. While the spool holds anything, new records go to the spool too, so a
station's records never overtake its earlier spooled ones; the drainer empties it in order when Kafka answers.
`publish` (no wait) is for events whose loss is tolerable (connection events go through the same path anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from csms.logs import get_logger
from ocpp_edge.spool import Spool, SpooledRecord

log = get_logger(__name__)


class Publisher:
    def __init__(self, producer: AIOKafkaProducer, spool: Spool, *, durable_timeout: float) -> None:
        self.producer, self.spool, self.durable_timeout = producer, spool, durable_timeout
        self._spool_lock = asyncio.Lock()
        self._drain_wakeup = asyncio.Event()
        self.spooled_total = 0

    @property
    def spooling(self) -> bool:
        return self.spool.count > 0

    async def publish_durable(self, records: Sequence[SpooledRecord]) -> str:
        """Make `records` durable; returns "kafka" or "spool"."""
        if not self.spooling:
            try:
                futures = [
                    await self.producer.send(r.topic, r.value, key=r.key, headers=list(r.headers)) for r in records
                ]
                await asyncio.wait_for(asyncio.gather(*futures), self.durable_timeout)
                return "kafka"
            except Exception as exc:  # timeout, broker down, buffer full: fall back to the spool
                log.warning("kafka did not ack in time; spooling", error=repr(exc), records=len(records))
        async with self._spool_lock:
            await asyncio.to_thread(self.spool.append, records)
        self.spooled_total += len(records)
        self._drain_wakeup.set()
        return "spool"

    async def drain_forever(self, stop: asyncio.Event) -> None:
        """Re-send spooled records in order whenever there are any; truncate once all are acked."""
        while not stop.is_set():
            if self.spool.count == 0:
                self._drain_wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._drain_wakeup.wait(), 1.0)
                continue
            try:
                await self._drain_once()
            except Exception as exc:
                log.warning("spool drain failed; retrying", error=repr(exc), spooled=self.spool.count)
                await asyncio.sleep(1.0)

    async def _drain_once(self) -> None:
        async with self._spool_lock:  # appends wait: a station's order is the file's order
            records = list(self.spool.read())
            for start in range(0, len(records), 2000):
                chunk = records[start : start + 2000]
                futures = [
                    await self.producer.send(r.topic, r.value, key=r.key, headers=list(r.headers)) for r in chunk
                ]
                await asyncio.wait_for(asyncio.gather(*futures), 30)
            self.spool.clear()
        log.info("spool drained to kafka", records=len(records))

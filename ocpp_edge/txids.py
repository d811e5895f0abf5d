"""OCPP 1.6 transaction ids: unique across edges and restarts, within a signed 32-bit integer.

Scheme (docs/architecture.md, "1.6 transaction ids"): an edge leases blocks of ids by producing one record to the
one-partition topic `edge.txid-leases`; the record's offset N, which Kafka gives to exactly one producer ever, is
the block number, and the block is ids [N*B + 1, N*B + B] (B = block size, 256 by default). The edge keeps its
current position in a small local file, so a restart continues its block instead of wasting it, and leases the
next block ahead of need so StartTransaction is answered at once, even while Kafka is briefly unreachable.
With B = 256 there are 8.3 million blocks: 2.1 billion transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer

from csms.logs import get_logger
from schemas import AvroCodec

log = get_logger(__name__)
MAX_TXID = 2**31 - 1
LEASE_SCHEMA = "csms.ocpp.TxIdLease"


class TxIdExhausted(RuntimeError):
    """No leased ids are left (Kafka unreachable for longer than the reserve lasts)."""


class TxIdAllocator:
    def __init__(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        codec: AvroCodec,
        *,
        edge_id: str,
        block_size: int,
        state_file: Path,
    ) -> None:
        self.producer, self.topic, self.codec, self.edge_id = producer, topic, codec, edge_id
        self.block_size, self.state_file = block_size, state_file
        self._blocks: list[tuple[int, int]] = []  # [next id, last id] of each leased, unused block
        self._leasing: asyncio.Task[None] | None = None
        self._load()

    def _load(self) -> None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            for line in self.state_file.read_text().split():
                nxt, last = (int(x) for x in line.split(":"))
                if nxt <= last:
                    self._blocks.append((nxt, last))

    def _save(self) -> None:
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")  # not the spool's temporary file
        tmp.write_text(" ".join(f"{n}:{last}" for n, last in self._blocks))
        os.replace(tmp, self.state_file)

    @property
    def available(self) -> int:
        return sum(last - nxt + 1 for nxt, last in self._blocks)

    async def ensure_reserve(self) -> None:
        """Lease blocks until at least two blocks' worth of ids are in hand."""
        while self.available < 2 * self.block_size:
            await self._lease()

    async def _lease(self) -> None:
        event_id = str(uuid.uuid4())
        value = {
            "event_id": event_id,
            "edge_id": self.edge_id,
            "block_size": self.block_size,
            "leased_at": datetime.now(UTC),
        }
        meta = await asyncio.wait_for(
            self.producer.send_and_wait(
                self.topic,
                self.codec.encode(LEASE_SCHEMA, value),
                key=self.edge_id.encode(),
                headers=self.codec.headers(LEASE_SCHEMA, event_id),
            ),
            10,
        )
        first = meta.offset * self.block_size + 1
        last = first + self.block_size - 1
        if last > MAX_TXID:
            raise TxIdExhausted("the 32-bit transaction id space is used up; see docs/operations.md")
        self._blocks.append((first, last))
        self._save()
        log.info("leased transaction id block", block=meta.offset, first=first, last=last)

    async def next_id(self) -> int:
        """The next id (persisted before it is returned); leases more in the background when running low."""
        if not self._blocks:
            try:
                await self._lease()
            except Exception as exc:
                raise TxIdExhausted(f"no transaction ids left and none can be leased now: {exc!r}") from exc
        nxt, last = self._blocks[0]
        if nxt == last:
            self._blocks.pop(0)
        else:
            self._blocks[0] = (nxt + 1, last)
        self._save()
        if self.available < self.block_size and (self._leasing is None or self._leasing.done()):
            self._leasing = asyncio.ensure_future(self._lease_quietly())
        return nxt

    async def _lease_quietly(self) -> None:
        try:
            await self.ensure_reserve()
        except Exception as exc:
            log.warning("could not lease transaction ids yet", error=repr(exc))

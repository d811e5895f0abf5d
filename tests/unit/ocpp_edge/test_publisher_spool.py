"""Durability without Kafka: records that are not acked in time are fsync'd to the spool before the answer,
and drained to Kafka in order when it answers again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ocpp_edge.publisher import Publisher
from ocpp_edge.spool import Spool, SpooledRecord


class _Batch:
    def __init__(self) -> None:
        self.values: list[bytes] = []

    def append(self, *, key: bytes, value: bytes, timestamp: None, headers: Any) -> object:
        self.values.append(value)
        return object()


class FlakyProducer:
    """Stands in for aiokafka's producer at the unit level: acks only while `up`."""

    def __init__(self) -> None:
        self.up = False
        self.ack_delay = 0.0
        self.delivered: list[bytes] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1}

    def create_batch(self) -> _Batch:
        return _Batch()

    async def send_batch(self, batch: _Batch, topic: str, *, partition: int) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.up:
            self.delivered.extend(batch.values)
            future.set_result(None)
        return future

    async def send(self, topic: str, value: bytes, key: bytes, headers: Any) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.up:
            self.delivered.append(value)
            asyncio.get_running_loop().call_later(self.ack_delay, future.set_result, None)
        return future  # never completes while down: a stuck broker


def rec(i: int) -> SpooledRecord:
    return SpooledRecord("ocpp.messages", b"CP1", f"v{i}".encode(), (("event_id", str(i).encode()),))


async def test_unacked_records_are_spooled_then_drained_in_order(tmp_path):
    producer = FlakyProducer()
    spool = Spool(tmp_path, "edge-1")
    publisher = Publisher(producer, spool, durable_timeout=0.05)  # type: ignore[arg-type]
    assert await publisher.publish_durable([rec(1), rec(2)]) == "spool"
    producer.up = True
    # while the spool holds records, new ones queue behind them (per-station order)
    assert await publisher.publish_durable([rec(3)]) == "spool"
    assert [r.value for r in Spool(tmp_path, "edge-1").read()] == [b"v1", b"v2", b"v3"]  # survives a restart
    stop = asyncio.Event()
    drainer = asyncio.create_task(publisher.drain_forever(stop))
    for _ in range(100):
        if spool.count == 0:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await drainer
    assert producer.delivered == [b"v1", b"v2", b"v3"]
    assert await publisher.publish_durable([rec(4)]) == "kafka"
    assert producer.delivered[-1] == b"v4"


def test_a_torn_final_write_is_ignored(tmp_path):
    spool = Spool(tmp_path, "edge-2")
    spool.append([rec(1)])
    with spool.path.open("ab") as f:
        f.write(b"\x00\x00\x01\x00partial")
    assert [r.value for r in Spool(tmp_path, "edge-2").read()] == [b"v1"]


async def test_records_spooled_while_draining_stay_behind_the_drained_ones(tmp_path):
    """The drainer does not hold the lock while it sends: chargers keep being answered (spooled) meanwhile, and
    only the acknowledged prefix leaves the spool."""
    producer = FlakyProducer()
    spool = Spool(tmp_path, "edge-3")
    publisher = Publisher(producer, spool, durable_timeout=0.05)  # type: ignore[arg-type]
    assert await publisher.publish_durable([rec(1), rec(2)]) == "spool"
    producer.up, producer.ack_delay = True, 0.3
    drain = asyncio.create_task(publisher._drain_once())
    await asyncio.sleep(0.05)  # the drain has its snapshot and waits for acks
    started = asyncio.get_running_loop().time()
    assert await publisher.publish_durable([rec(3)]) == "spool"
    assert asyncio.get_running_loop().time() - started < 0.2  # not blocked by the drain in progress
    await drain
    assert [r.value for r in spool.read()] == [b"v3"]  # the late record waits for the next round, in order
    await publisher._drain_once()
    assert producer.delivered == [b"v1", b"v2", b"v3"] and spool.count == 0


def test_appends_from_threads_during_drops_lose_nothing_and_close_is_idempotent(tmp_path):
    """Spool methods run in worker threads; a drainer cancelled mid-drop must not race a close or an append."""
    import threading

    spool = Spool(tmp_path, "edge-t")
    spool.append([SpooledRecord("t", b"k", f"first-{i}".encode(), ()) for i in range(50)])

    def append_many() -> None:
        for i in range(200):
            spool.append([SpooledRecord("t", b"k", f"later-{i}".encode(), ())])

    writer = threading.Thread(target=append_many)
    writer.start()
    spool.drop_prefix(50)
    writer.join()
    values = [r.value for r in spool.read()]
    assert values == [f"later-{i}".encode() for i in range(200)]
    assert spool.count == 200
    spool.close()
    spool.close()
    with pytest.raises(ValueError, match="closed"):
        spool.append([SpooledRecord("t", b"k", b"x", ())])


def test_the_spool_and_the_txid_state_never_share_a_temporary_file(tmp_path):
    """Both live in the spool folder and are rewritten from threads; they once both wrote `<edge>.tmp`, and a
    drain racing a txid lease moved one's file over the other's (spool records lost, EBADF afterwards)."""
    import threading

    from ocpp_edge.txids import TxIdAllocator

    spool = Spool(tmp_path, "edge-x")
    allocator = TxIdAllocator(None, "t", None, edge_id="edge-x", block_size=256,  # type: ignore[arg-type]
                              state_file=tmp_path / "edge-x.txids")
    allocator._blocks = [(1, 256)]
    stop = threading.Event()

    def save_forever() -> None:
        while not stop.is_set():
            allocator._save()

    saver = threading.Thread(target=save_forever)
    saver.start()
    try:
        for round_ in range(200):
            spool.append([SpooledRecord("t", b"k", f"r{round_}-{i}".encode(), ()) for i in range(3)])
            spool.drop_prefix(2)
    finally:
        stop.set()
        saver.join()
    written = [f"r{n}-{i}".encode() for n in range(200) for i in range(3)]
    assert [r.value for r in spool.read()] == written[400:]  # 600 appended, the oldest 400 dropped
    assert spool.count == 200
    assert (tmp_path / "edge-x.txids").read_text() == "1:256"
    spool.close()

"""1.6 transaction ids: unique across edges and restarts, inside a signed 32-bit integer."""

from __future__ import annotations

import pytest

from csms.kafka import make_producer
from ocpp_edge.txids import MAX_TXID, TxIdAllocator
from schemas import AvroCodec
from tests.integration.edge import _support as s

pytestmark = pytest.mark.integration


async def test_two_edges_and_a_restart_never_share_an_id(kafka_settings, tmp_path):
    await s.create_topics(kafka_settings)
    producer = make_producer(kafka_settings)
    await producer.start()
    topic = kafka_settings.topic_prefix + "edge.txid-leases"
    try:
        def allocator(edge_id: str) -> TxIdAllocator:
            return TxIdAllocator(producer, topic, AvroCodec(), edge_id=edge_id, block_size=8,
                                 state_file=tmp_path / f"{edge_id}.txids")

        a, b = allocator("edge-a"), allocator("edge-b")
        await a.ensure_reserve()
        await b.ensure_reserve()
        ids_a = [await a.next_id() for _ in range(20)]
        ids_b = [await b.next_id() for _ in range(20)]
        restarted = allocator("edge-a")  # same state file: continues its blocks, wastes nothing
        assert restarted.available == a.available
        await restarted.ensure_reserve()
        ids_a2 = [await restarted.next_id() for _ in range(20)]
    finally:
        await producer.stop()
    everything = ids_a + ids_b + ids_a2
    assert len(set(everything)) == len(everything)
    assert all(0 < i <= MAX_TXID for i in everything)
    assert ids_a2[0] == ids_a[-1] + 1 or ids_a2[0] > max(ids_a)  # the restart picked up where it stopped

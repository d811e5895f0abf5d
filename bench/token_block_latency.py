"""Benchmark: a token blocked through a command is answered Blocked by the edge how soon? (issue 5: ≤ 1 s p99)

    uv run python -m bench.token_block_latency --rounds 30

The real path: BlockToken on auth.commands -> the authorization processor (store + outbox) -> the relay ->
auth.tokens -> the edge's in-memory state -> an Authorize over a real WebSocket answered Blocked. Then
UnblockToken the same way back to Accepted. Uses the test broker and PostgreSQL (tests/infra.py).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import orjson
import websockets

from csms.kafka import apply_topics
from csms.settings import KafkaSettings
from ocpp_edge.server import Edge
from ocpp_edge.settings import EdgeSettings
from processors.authorization import AuthorizationSettings, spec
from schemas import load_topics
from tests import infra
from tests.integration import domain_support as s


async def _authorize(ws: websockets.ClientConnection, tag: str) -> str:
    await ws.send(orjson.dumps([2, uuid.uuid4().hex[:8], "Authorize", {"idTag": tag}]).decode())
    return str(orjson.loads(await ws.recv())[2]["idTagInfo"]["status"])


async def _until(ws: websockets.ClientConnection, tag: str, status: str, started: float) -> float:
    while await _authorize(ws, tag) != status:  # noqa: ASYNC110 - polling what a charger sees is the measurement
        await asyncio.sleep(0.01)
    return time.perf_counter() - started


async def run(started: infra.Infra, rounds: int) -> None:
    kafka = KafkaSettings(bootstrap=started.bootstrap, topic_prefix=f"blk{uuid.uuid4().hex[:6]}.")
    await apply_topics(kafka, load_topics(prefix=kafka.topic_prefix), max_partitions=2)
    name = infra.unique("bench_")
    admin = await asyncpg.connect(started.database_url("postgres"))
    await admin.execute(f'create database "{name}"')
    await admin.close()
    settings = AuthorizationSettings(database_url=started.database_url(name), kafka=kafka, http_port=0,
                                     log_level="WARNING")
    edge = Edge(EdgeSettings(kafka=kafka, port=0, http_port=0, unknown_stations="accept", log_level="WARNING",
                             spool_dir=Path(tempfile.mkdtemp())))
    tag = "BENCH-BLOCK-1"
    async with s.Feed(kafka) as feed, s.running(spec(settings), settings):
        await edge.start()
        try:
            await feed.command("auth.commands", "IssueToken", {"id_token": tag, "token_type": "ISO14443"},
                               aggregate_id=f"ISO14443:{tag}")
            await feed.flush()
            ws = await websockets.connect(f"ws://127.0.0.1:{edge.settings.port}/ocpp/BENCH-CP",
                                          subprotocols=["ocpp1.6"])
            await _until(ws, tag, "Accepted", time.perf_counter())
            blocked, unblocked = [], []
            for _ in range(rounds):
                t0 = time.perf_counter()
                await feed.command("auth.commands", "BlockToken", {"token_key": f"ISO14443:{tag}"},
                                   aggregate_id=f"ISO14443:{tag}")
                await feed.flush()
                blocked.append(await _until(ws, tag, "Blocked", t0))
                t0 = time.perf_counter()
                await feed.command("auth.commands", "UnblockToken", {"token_key": f"ISO14443:{tag}"},
                                   aggregate_id=f"ISO14443:{tag}")
                await feed.flush()
                unblocked.append(await _until(ws, tag, "Accepted", t0))
            await ws.close()
        finally:
            await edge.stop()
    for label, values in (("block -> Blocked", blocked), ("unblock -> Accepted", unblocked)):
        ordered = sorted(values)
        p50, p99 = ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        print(f"{label}: n={len(values)} p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
              f"max {max(values) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    asyncio.run(run(infra.start(), parser.parse_args().rounds))


if __name__ == "__main__":
    main()

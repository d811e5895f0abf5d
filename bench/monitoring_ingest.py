"""Benchmark: sampled values/s the monitoring processor ingests, its lag at a paced rate, and alert latency.

    uv run python -m bench.monitoring_ingest [--messages 60000] [--rate 5000] [--seconds 20] [--stations 1000]

Uses the test broker and database (tests/infra.py). Each MeterValues message carries 10 sampled values and is
published as the edge does: the charger's CALL, then the edge's CALLRESULT carrying the request (2 records, with
the edge's `ocpp_type` / `ocpp_action` headers).
1. backlog: `--messages` messages are produced first, then the processor drains them; steady-state values/s.
2. paced: `--rate` messages/s for `--seconds` s while the processor runs; lag = wall clock - newest stored
   sample's receive time (the edge's receive time, set when the record is produced), sampled every 0.5 s
   (p50 / max).
3. alerts: a NO_HEARTBEAT rule of 5 s; when the paced producer stops, time until every station's alert is open.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import orjson
import psutil

from csms.kafka import apply_topics, make_producer
from csms.settings import KafkaSettings
from processors.monitoring import MonitoringSettings, run
from schemas import AvroCodec, load_topics
from tests import infra
from tests.integration.monitoring import _support

MEASURANDS = [("Energy.Active.Import.Register", None, "Wh"), ("Power.Active.Import", None, "W"),
              ("Current.Import", "L1", "A"), ("Current.Import", "L2", "A"), ("Current.Import", "L3", "A"),
              ("Voltage", "L1-N", "V"), ("Voltage", "L2-N", "V"), ("Voltage", "L3-N", "V"), ("SoC", None, "Percent"),
              ("Temperature", None, "Celsius")]


def _pair(codec: AvroCodec, station: str, i: int, now: datetime) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    ts = now.isoformat().replace("+00:00", "Z")
    request = orjson.dumps({"connectorId": 1, "transactionId": 1, "meterValue": [{"timestamp": ts, "sampledValue": [
        {"value": str(1000 + i + k), "measurand": m, **({"phase": p} if p else {}), "unit": u,
         "context": "Sample.Periodic"} for k, (m, p, u) in enumerate(MEASURANDS)]}]}).decode()
    base = {"station_id": station, "edge_id": "bench", "connection_id": station, "ocpp_version": "ocpp1.6",
            "message_id": str(i), "action": "MeterValues", "received_at": now, "sequence": i}
    out = []
    for extra in ({"direction": "CHARGER_TO_CSMS", "message_type": "CALL", "payload_json": request},
                  {"direction": "CSMS_TO_CHARGER", "message_type": "CALLRESULT", "payload_json": "{}",
                   "request_payload_json": request}):
        event_id = str(uuid.uuid4())
        value = codec.encode("csms.ocpp.OcppMessage", {**base, **extra, "event_id": event_id})
        headers = [*codec.headers("csms.ocpp.OcppMessage", event_id),  # as the edge sends them
                   ("ocpp_type", extra["message_type"].encode()), ("ocpp_action", b"MeterValues")]
        out.append((station.encode(), value, headers))
    return out


async def produce(kafka: KafkaSettings, n: int, stations: int, rate: float | None = None) -> None:
    codec, topic = AvroCodec(), kafka.topic_prefix + "ocpp.messages"
    producer = make_producer(kafka, linger_ms=20)
    await producer.start()
    started, pending = time.perf_counter(), []
    try:
        for i in range(n):
            for key, value, headers in _pair(codec, f"B-{i % stations:05d}", i, datetime.now(UTC)):
                pending.append(await producer.send(topic, value, key=key, headers=headers))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
            if rate and i % 100 == 0:
                ahead = i / rate - (time.perf_counter() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def consumed(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("select coalesce(sum(next_offset), 0) from runtime_offsets") or 0)


async def newest_lag(conn: asyncpg.Connection) -> float | None:
    """Seconds between the statement's start and the newest stored sample's receive time. A narrow window first
    (BRIN on ts): scanning 30 s of samples every 0.5 s would load the database being measured."""
    for window in ("4 seconds", "60 seconds"):
        lag = await conn.fetchval("select extract(epoch from statement_timestamp() - max(received_at))::float8 "
                                  f"from meter_samples where ts > now() - interval '{window}'")
        if lag is not None:
            return float(lag)
    return None


class CpuMeter:
    """CPU seconds used by this process (the processor runs in it) and by the PostgreSQL backends serving the bench
    database: what a message costs, whatever else the shared box is doing (wall-clock rates depend on that)."""

    def __init__(self, database: str) -> None:
        self.me = psutil.Process()
        self.database = database
        self.backends: dict[int, psutil.Process] = {}

    def _scan(self) -> None:
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmdline = proc.info["cmdline"] or []
            if proc.info["pid"] not in self.backends and any(f" {self.database} " in f" {part} " for part in cmdline):
                self.backends[proc.info["pid"]] = proc

    def read(self) -> tuple[float, float]:
        """(this process's CPU seconds, the bench database's backends' CPU seconds) so far."""
        self._scan()
        mine = self.me.cpu_times()
        pg = 0.0
        for proc in self.backends.values():
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue  # a backend that ended: its time is lost, so keep connections open across a reading
            pg += times.user + times.system
        return mine.user + mine.system, pg


async def main(args: argparse.Namespace) -> None:
    started = await asyncio.to_thread(infra.start)
    kafka = KafkaSettings(bootstrap=started.bootstrap, topic_prefix=infra.unique("mbench") + ".")
    name = infra.unique("mbench_")
    admin = await asyncpg.connect(started.database_url("postgres"))
    await admin.execute(f'create database "{name}"')
    await admin.close()
    url = started.database_url(name)
    await apply_topics(kafka, load_topics().with_prefix(kafka.topic_prefix), only=_support.TOPICS,
                       max_partitions=args.partitions)
    t0 = time.perf_counter()
    await produce(kafka, args.messages, args.stations)
    print(f"produced {args.messages} MeterValues (x2 records, 10 values each) in {time.perf_counter() - t0:.1f}s")
    settings = MonitoringSettings(database_url=url, kafka=kafka, http_port=0, max_batch=args.batch,
                                  log_level="WARNING")
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop))
    conn = None
    try:
        await _support.wait_for(lambda: _support.scalar(url, "select count(*) from runtime_offsets"), timeout=60)
        conn = await asyncpg.connect(url)
        total = 2 * args.messages
        while await consumed(conn) < min(total, 4000):  # noqa: ASYNC110 (polling the database)
            await asyncio.sleep(0.05)
        meter = CpuMeter(name)
        first, t_first, cpu_first = await consumed(conn), time.perf_counter(), meter.read()
        while await consumed(conn) < total:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        elapsed = time.perf_counter() - t_first
        cpu_last = meter.read()
        rate = (total - first) / 2 / elapsed
        print(f"backlog: {rate:,.0f} messages/s = {rate * 10:,.0f} sampled values/s (batch {args.batch})")
        values = (total - first) / 2 * 10
        print(f"backlog CPU per sampled value: processor process {(cpu_last[0] - cpu_first[0]) / values * 1e6:.1f} us, "
              f"PostgreSQL backends {(cpu_last[1] - cpu_first[1]) / values * 1e6:.1f} us (load average "
              f"{' '.join(f'{x:.1f}' for x in psutil.getloadavg())})")
        await conn.execute("insert into alert_rules values ('silence', 'bench', 'NO_HEARTBEAT', 'WARNING', 'ALL', "
                           "null, '{\"seconds\": 5}', 0, null, 1, true, now(), now(), null)")
        lags: list[float] = []
        producing = asyncio.create_task(produce(kafka, int(args.rate * args.seconds), args.stations, args.rate))
        while not producing.done():
            await asyncio.sleep(0.5)
            lag = await newest_lag(conn)
            if lag is not None:
                lags.append(lag)
        await producing
        last_frame = time.perf_counter()
        print(f"paced {args.rate:,.0f} messages/s ({args.rate * 10:,.0f} values/s) for {args.seconds}s: lag p50 "
              f"{statistics.median(lags):.2f}s, max {max(lags):.2f}s ({len(lags)} samples)")
        while await conn.fetchval("select count(*) from alerts where state = 'OPEN'") < args.stations:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        print(f"alerts: {args.stations} NO_HEARTBEAT(5 s) alerts open {time.perf_counter() - last_frame:.1f}s after "
              "the last frame (threshold 5 s)")
        print(f"stored samples: {await conn.fetchval('select count(*) from meter_samples'):,}")
    finally:
        if conn is not None:
            await conn.close()
        stop.set()
        await task


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=5000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--partitions", type=int, default=4)
    asyncio.run(main(parser.parse_args()))

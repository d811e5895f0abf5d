"""Monitoring on the real broker and database: OCPP frames in, time series, fleet health and sessions out."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from processors.monitoring import MonitoringSettings
from tests.integration.monitoring import _support as m

pytestmark = pytest.mark.integration


def _mv(ts: datetime, values: list[dict]) -> list[dict]:
    return [{"timestamp": ts.isoformat().replace("+00:00", "Z"), "sampledValue": values}]


async def test_frames_become_samples_rollups_status_history_sessions_and_daily_stats(kafka_settings, fresh_database):
    await m.create_topics(kafka_settings)
    st, st2 = f"CP-{uuid.uuid4().hex[:6]}", f"CP2-{uuid.uuid4().hex[:6]}"
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    records = [
        m.connection(st, "CONNECTED", t0),
        *m.frames(st, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M", "firmwareVersion": "1.2"},
                  {"status": "Accepted", "interval": 60, "currentTime": "x"}, at=t0),
        *m.frames(st, "StatusNotification", {"connectorId": 1, "status": "Preparing", "errorCode": "NoError",
                                             "timestamp": t0.isoformat()}, at=t0),
        *m.frames(st, "StartTransaction", {"connectorId": 1, "idTag": "T1", "meterStart": 1000,
                                           "timestamp": t0.isoformat()},
                  {"transactionId": 42, "idTagInfo": {"status": "Accepted"}}, at=t0),
        *m.frames(st, "StatusNotification", {"connectorId": 1, "status": "Charging", "errorCode": "NoError",
                                             "timestamp": (t0 + timedelta(seconds=10)).isoformat()},
                  at=t0 + timedelta(seconds=10)),
        *m.frames(st, "MeterValues", {"connectorId": 1, "transactionId": 42, "meterValue": _mv(
            t0 + timedelta(seconds=60), [{"value": "1.5", "unit": "kWh"},
                                         {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"},
                                         {"value": "230.1", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
                                         {"value": "abc", "format": "SignedData"}])},
                  at=t0 + timedelta(seconds=61)),
        *m.frames(st, "Authorize", {"idTag": "BAD"}, {"idTagInfo": {"status": "Invalid"}},
                  at=t0 + timedelta(seconds=70)),
        *m.frames(st, "StopTransaction", {"transactionId": 42, "meterStop": 4000, "reason": "EmergencyStop",
                                          "timestamp": (t0 + timedelta(seconds=120)).isoformat(),
                                          "transactionData": _mv(t0 + timedelta(seconds=120),
                                                                 [{"value": "4000", "context": "Transaction.End"}])},
                  {"idTagInfo": {"status": "Accepted"}}, at=t0 + timedelta(seconds=120)),
        *m.frames(st, "StatusNotification", {"connectorId": 1, "status": "Faulted", "errorCode": "GroundFailure",
                                             "vendorErrorCode": "E42", "info": "leak",
                                             "timestamp": (t0 + timedelta(seconds=130)).isoformat()},
                  at=t0 + timedelta(seconds=130)),
        *m.frames(st2, "MeterValues", {"evseId": 2, "meterValue": _mv(t0, [
            {"value": 3.2, "measurand": "Energy.Active.Import.Register",
             "unitOfMeasure": {"unit": "kWh", "multiplier": 0}},
            {"value": 11, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W", "multiplier": 3}}])},
                  version="ocpp2.0.1", at=t0),
        *m.frames(st2, "MeterValues", {"evseId": 1, "meterValue": [
            {"timestamp": "1999-01-01T00:00:00Z", "sampledValue": [{"value": 1, "measurand": "SoC",
                                                                     "unitOfMeasure": {"unit": "Percent"}}]},
            {"timestamp": "not a time", "sampledValue": [{"value": 2, "measurand": "SoC"}]}]},
                  version="ocpp2.0.1", at=t0),
        *m.frames(st2, "SecurityEventNotification", {"type": "InvalidFirmwareSignature", "timestamp": t0.isoformat()},
                  version="ocpp2.0.1", at=t0),
        *m.frames(st2, "FirmwareStatusNotification", {"status": "InstallationFailed"}, version="ocpp2.0.1", at=t0),
        m.connection(st, "DISCONNECTED", t0 + timedelta(seconds=300)),
    ]
    await m.produce(kafka_settings, records)
    settings = MonitoringSettings(database_url=fresh_database, kafka=kafka_settings, http_port=0)
    async with m.running(settings):
        async def applied() -> bool:
            sql = f"select count(*) from station_state where station_id = '{st}' and not connected"
            stats = f"select coalesce(sum(disconnections), 0) from daily_station_stats where station_id = '{st}'"
            # the roll-ups are folded by a background task from the pending batches: wait for it too
            folded = "select count(*) from meter_pending_batches"
            return (await m.scalar(fresh_database, sql) == 1 and await m.scalar(fresh_database, stats) == 1
                    and await m.scalar(fresh_database, folded) == 0)
        await m.wait_for(applied, timeout=30, what="the disconnection applied and the roll-ups folded")

    q = lambda sql: m.scalar(fresh_database, sql)  # noqa: E731
    # 1.6: 3 numeric values of the MeterValues (SignedData skipped) + 1 of transactionData; 2.x: 2 + 2 SoC values
    assert await q("select count(*) from meter_samples") == 8
    # an implausible or unreadable charger clock: stored at the edge's receive time, the raw charger time kept
    assert await q(f"select count(*) from meter_samples where measurand = 'SoC' and ts = '{t0.isoformat()}'") == 2
    assert await q("select count(charger_ts) from meter_samples where measurand = 'SoC'") == 1
    assert await q(f"select count(*) from meter_samples where station_id = '{st}' and measurand = "
                   "'Energy.Active.Import.Register' and transaction_id = '42'") == 2  # default measurand
    assert await q(f"select value from meter_samples where station_id = '{st}' and measurand = "
                   "'Energy.Active.Import.Register' and context is null") == 1500.0  # kWh -> Wh
    assert await q(f"select value from meter_samples where station_id = '{st2}' and measurand = "
                   "'Power.Active.Import'") == 11000.0  # multiplier 3
    assert await q(f"select unit from meter_samples where station_id = '{st2}' and measurand = "
                   "'Energy.Active.Import.Register'") == "Wh"
    assert await q("select sum(n) from meter_rollup_1m") == 8
    assert await q("select sum(n) from meter_rollup_1h") == 8
    assert await q(f"select energy_wh from sessions where station_id = '{st}' and transaction_id = '42'") == 3000.0
    assert await q(f"select failed from sessions where station_id = '{st}'") is True  # EmergencyStop
    assert await q(f"select sum(sessions) || '/' || sum(failed_sessions) || '/' || sum(boots) || '/' || sum(errors) "
                   f"|| '/' || sum(auth_failures) || '/' || sum(disconnections) from daily_station_stats "
                   f"where station_id = '{st}'") == "1/1/1/1/1/1"
    assert await q(f"select sum(uptime_s) from daily_station_stats where station_id = '{st}'") == 300.0
    assert await q(f"select count(*) from status_history where station_id = '{st}'") == 3
    assert await q(f"select error_code || ':' || vendor_error_code from connector_state where station_id = '{st}'") \
        == "GroundFailure:E42"
    assert await q(f"select sum(occupied_s) from daily_connector_stats where station_id = '{st}'") == 130.0
    assert await q(f"select sum(charging_s) from daily_connector_stats where station_id = '{st}'") == 120.0
    assert await q(f"select firmware_status from station_state where station_id = '{st2}'") == "InstallationFailed"
    assert await q(f"select firmware_version from station_state where station_id = '{st}'") == "1.2"
    assert await q(f"select string_agg(kind, ',' order by kind) from station_events where station_id = '{st2}'") \
        == "FIRMWARE_STATUS,SECURITY_EVENT"
    assert await q("select count(*) from runtime_processed_events") == len(records)


async def test_charger_calls_are_skipped_and_a_redelivered_batch_stores_no_value_twice(kafka_settings,
                                                                                         fresh_database):
    await m.create_topics(kafka_settings)
    st = f"CP-{uuid.uuid4().hex[:6]}"
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    records = [record for i in range(3) for record in m.frames(st, "MeterValues", {
        "connectorId": 1, "transactionId": 9, "meterValue": _mv(t0 + timedelta(seconds=i), [
            {"value": str(100 + i)}, {"value": "7", "measurand": "Power.Active.Import", "unit": "kW"}])},
        at=t0 + timedelta(seconds=i))]
    settings = MonitoringSettings(database_url=fresh_database, kafka=kafka_settings, http_port=0)
    q = lambda sql: m.scalar(fresh_database, sql)  # noqa: E731
    consumed = "select coalesce(sum(next_offset), 0) from runtime_offsets where topic like '%ocpp.messages'"
    async with m.running(settings):
        await m.produce(kafka_settings, records, edge_headers=True)
        await m.wait_for(lambda: _is(q(consumed), len(records)), what="first delivery applied")
        await m.produce(kafka_settings, records, edge_headers=True)  # the same events again (same event ids)
        await m.wait_for(lambda: _is(q(consumed), 2 * len(records)), what="redelivery consumed")

    assert await q("select count(*) from meter_samples") == 6
    assert await q("select sum(n) from meter_rollup_1m") == 6
    assert await q("select sum(n) from meter_rollup_1h") == 6
    assert await q("select count(*) from meter_pending_batches") == 0
    assert await q(f"select register_max_wh - register_min_wh from sessions where station_id = '{st}'") == 2.0
    assert await q("select max(max) from meter_rollup_1m where measurand = 'Power.Active.Import'") == 7000.0
    # the edge's answers only: the charger's CALLs were skipped before decoding, and marked the station alive
    # through the answer that follows each of them
    assert await q("select count(*) from runtime_processed_events") == 3
    assert await q(f"select last_message_at from station_state where station_id = '{st}'") \
        == t0 + timedelta(seconds=2)


async def _is(value_coro, expected) -> bool:  # type: ignore[no-untyped-def]
    return bool(await value_coro == expected)

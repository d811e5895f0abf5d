"""Live state from OCPP events on the real broker and database: connectivity, heartbeats, connector status in
1.6 / 2.x / NotifyEvent form, configuration, the offline watch, and the read queries over the result."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from processors.runtime.migrate import async_url
from processors.stations import StationsSettings, queries, spec
from processors.stations.connectivity import offline_round
from schemas import AvroCodec, load_topics
from tests.integration import domain_support as s

pytestmark = pytest.mark.integration
TOPICS = ["ocpp.messages", "ocpp.connections", "stations.commands", "stations.registry", "stations.events"]
BOOT_16 = {"chargePointVendor": "Acme", "chargePointModel": "AC22"}
BOOT_2X = {"reason": "PowerUp", "chargingStation": {"vendorName": "Volt", "model": "DC150", "serialNumber": "V-1"}}
ACCEPTED = {"status": "Accepted", "interval": 300, "currentTime": "2026-03-01T08:00:00Z"}


async def feed_day(feed: s.Feed, url: str, *, connections: bool = True) -> None:
    """Two stations (1.6 and 2.0.1) booting, reporting statuses, configuration, and one disconnecting."""
    t = s.T0
    await feed.command("stations.commands", "DefineLocation", {"location_id": "BER", "name": "Berlin",
                                                               "latitude": 52.52, "longitude": 13.405})
    await feed.flush()  # commands of different keys may apply in any order: the location first
    await s.wait_for(lambda: s.fetch(url, "select 1 from locations"), what="location")
    await feed.command("stations.commands", "RegisterStation", {
        "location_id": "BER", "name": "Alex AC",
        "evses": [{"evse_id": 1, "connectors": [{"connector_id": 1, "connector_type": "TYPE_2"}]}]},
        aggregate_id="AC-16")
    await feed.flush()
    # commands and frames travel on different topics: let the registration land before the station boots
    await s.wait_for(lambda: s.fetch(url, "select 1 from stations where id = 'AC-16'"), what="registration")
    if connections:
        await feed.connection("AC-16", "CONNECTED", at=t)
    await feed.charger_call("AC-16", "BootNotification", BOOT_16, ACCEPTED, at=t + timedelta(seconds=1))
    await feed.charger_call("AC-16", "StatusNotification", {"connectorId": 0, "status": "Available",
                                                            "errorCode": "NoError"}, {}, at=t + timedelta(seconds=2))
    for i, status in enumerate(["Preparing", "Charging", "Faulted"]):
        await feed.charger_call("AC-16", "StatusNotification", {
            "connectorId": 1, "status": status, "errorCode": "GroundFailure" if status == "Faulted" else "NoError",
            "timestamp": f"2026-03-01T08:00:0{3 + i}Z"}, {}, at=t + timedelta(seconds=3 + i))
    await feed.charger_call("AC-16", "Heartbeat", {}, {"currentTime": "2026-03-01T08:00:10Z"},
                            at=t + timedelta(seconds=10))
    await feed.csms_call("AC-16", "GetConfiguration", {}, {"configurationKey": [
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
        {"key": "NumberOfConnectors", "readonly": True, "value": "1"}], "unknownKey": []},
        at=t + timedelta(seconds=11))
    v2 = "ocpp2.0.1"
    await feed.charger_call("DC-2X", "BootNotification", BOOT_2X, ACCEPTED, at=t + timedelta(seconds=1), version=v2)
    await feed.charger_call("DC-2X", "StatusNotification", {"timestamp": "2026-03-01T08:00:02Z",
                                                            "connectorStatus": "Occupied", "evseId": 1,
                                                            "connectorId": 1}, {}, at=t + timedelta(seconds=2),
                            version=v2)
    await feed.charger_call("DC-2X", "NotifyEvent", {"generatedAt": "2026-03-01T08:00:03Z", "seqNo": 0, "eventData": [
        {"eventId": 1, "timestamp": "2026-03-01T08:00:03Z", "trigger": "Delta", "actualValue": "Unavailable",
         "eventNotificationType": "HardWiredNotification",
         "component": {"name": "Connector", "evse": {"id": 2, "connectorId": 1}},
         "variable": {"name": "AvailabilityState"}},
        {"eventId": 2, "timestamp": "2026-03-01T08:00:03Z", "trigger": "Delta", "actualValue": "42",
         "eventNotificationType": "HardWiredNotification", "component": {"name": "EVSE"},
         "variable": {"name": "Power"}}]}, {}, at=t + timedelta(seconds=3), version=v2)
    await feed.charger_call("DC-2X", "NotifyReport", {"requestId": 1, "generatedAt": "2026-03-01T08:00:04Z", "seqNo": 0,
                                                      "reportData": [{
                                                          "component": {"name": "OCPPCommCtrlr"},
                                                          "variable": {"name": "HeartbeatInterval"},
                                                          "variableAttribute": [{"type": "Actual", "value": "60",
                                                                                 "mutability": "ReadWrite"}]}]},
                            {}, at=t + timedelta(seconds=4), version=v2)
    if connections:
        await feed.connection("DC-2X", "CONNECTED", at=t, version=v2)
        await feed.connection("DC-2X", "DISCONNECTED", at=t + timedelta(seconds=20), version=v2)
    # an unknown station's frames change nothing
    await feed.charger_call("GHOST", "StatusNotification", {"connectorId": 1, "status": "Available",
                                                            "errorCode": "NoError"}, {}, at=t)


async def test_live_state_from_ocpp_events(kafka_settings, fresh_database):
    await s.create_topics(kafka_settings, TOPICS)
    settings = StationsSettings(database_url=fresh_database, kafka=kafka_settings, http_port=0)
    async with s.Feed(kafka_settings) as feed, s.running(spec(settings), settings) as running:
        await feed_day(feed, fresh_database)
        await feed.flush()

        async def settled() -> bool:
            rows = await s.fetch(fresh_database, "select online from stations where id = 'DC-2X'")
            config = await s.fetch(fresh_database, "select count(*) as n from station_configuration")
            return bool(rows) and rows[0]["online"] is False and config[0]["n"] == 3
        await s.wait_for(settled, what="live state applied")
        # the offline watch: AC-16 is silent 10 minutes later (300 s x 1 + 60 s grace)
        topics = load_topics().with_prefix(kafka_settings.topic_prefix)
        assert await offline_round(running.engine, AvroCodec(), topics, missed=1, grace_s=60,
                                   now=s.T0 + timedelta(minutes=1)) == []
        assert await offline_round(running.engine, AvroCodec(), topics, missed=1, grace_s=60,
                                   now=s.T0 + timedelta(minutes=10)) == ["AC-16"]
        await s.drained(fresh_database)
        events = await s.read_topic(kafka_settings, "stations.events")

    kinds = [(k, schema.rsplit(".", 1)[1], v.get("status") or v.get("reason")) for k, schema, v in events
             if schema != "csms.stations.StationRegistered"]
    # CONNECTED (ocpp.connections) and the first frames (ocpp.messages) race: either brings AC-16 online, once
    ac = [x if x[1] != "StationWentOnline" else (x[0], x[1], "CONNECTED") for x in kinds if x[0] == "AC-16"]
    assert ac == [("AC-16", "StationWentOnline", "CONNECTED"), ("AC-16", "ConnectorStatusChanged", "Preparing"),
                  ("AC-16", "ConnectorStatusChanged", "Charging"), ("AC-16", "ConnectorStatusChanged", "Faulted"),
                  ("AC-16", "StationWentOffline", "MISSED_HEARTBEATS")]
    dc = [x[1:] for x in kinds if x[0] == "DC-2X"]
    assert [x for x in dc if x[0] == "ConnectorStatusChanged"] == [("ConnectorStatusChanged", "Occupied"),
                                                                   ("ConnectorStatusChanged", "Unavailable")]
    # DC-2X connected and disconnected: seen online then offline, or (connection events applied before its boot
    # created it) never online in the store at all
    assert [x[0] for x in dc if x[0] != "ConnectorStatusChanged"] in (
        [], ["StationWentOnline", "StationWentOffline"])
    assert all(k != "GHOST" for k, _, _ in events)

    engine = create_async_engine(async_url(fresh_database))
    try:
        async with engine.connect() as conn:
            ac16 = await queries.get_station(conn, "AC-16")
            assert ac16 is not None and ac16.vendor == "Acme" and ac16.ocpp_version == "ocpp1.6"
            assert ac16.online is False and ac16.last_heartbeat_at == s.T0 + timedelta(seconds=10, milliseconds=5)
            [evse] = ac16.evses
            [connector] = evse.connectors
            assert (connector.connector_type, connector.status, connector.error_code) == (
                "TYPE_2", "Faulted", "GroundFailure")
            dc2 = await queries.get_station(conn, "DC-2X")
            assert dc2 is not None and dc2.status == "ACCEPTED" and dc2.registered_via == "BOOT"
            assert [(e.evse_id, [c.status for c in e.connectors]) for e in dc2.evses] == [
                (1, ["Occupied"]), (2, ["Unavailable"])]
            history = await queries.connector_history(conn, "AC-16", limit=2)
            assert [h.status for h in history.items] == ["Faulted", "Charging"] and history.next_cursor
            older = await queries.connector_history(conn, "AC-16", before=history.next_cursor)
            assert [(h.evse_id, h.status) for h in older.items] == [(1, "Preparing"), (0, "Available")]
            connectivity = await queries.station_history(conn, "AC-16", kind="CONNECTIVITY")
            assert [h.status for h in connectivity.items] == ["OFFLINE", "ONLINE"]
            config = await queries.station_configuration_of(conn, "DC-2X")
            assert [(c.component, c.variable, c.value, c.readonly) for c in config] == [
                ("OCPPCommCtrlr", "HeartbeatInterval", "60", False)]
            near = await queries.list_stations(conn, near=(52.5, 13.4, 5_000))
            assert [x.id for x in near.items] == ["AC-16"] and 2_000 < (near.items[0].distance_m or 0) < 3_000
            assert [x.id for x in (await queries.list_stations(conn, bbox=(52, 13, 53, 14))).items] == ["AC-16"]
            assert [x.id for x in (await queries.list_stations(conn, connector_type="TYPE_2")).items] == ["AC-16"]
            page = await queries.list_stations(conn, limit=1)
            assert [x.id for x in page.items] == ["AC-16"] and page.next_cursor == "AC-16"
            rest = await queries.list_stations(conn, after=page.next_cursor)
            assert [x.id for x in rest.items] == ["DC-2X"] and rest.next_cursor is None
            assert [x.id for x in (await queries.list_stations(conn, search="alex")).items] == ["AC-16"]
    finally:
        await engine.dispose()

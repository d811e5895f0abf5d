"""The stations store's tables (SQLAlchemy Core, one MetaData; the DDL is in migrations/versions).

`tests/integration/stations` checks that these tables and the migrations agree.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

metadata = sa.MetaData()
TS = sa.DateTime(timezone=True)
LAT, LON = sa.Numeric(10, 8), sa.Numeric(11, 8)

locations = sa.Table(
    "locations", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("operator_id", sa.Text),
    sa.Column("address", sa.Text),
    sa.Column("city", sa.Text),
    sa.Column("postal_code", sa.Text),
    sa.Column("country", sa.Text),
    sa.Column("latitude", LAT),
    sa.Column("longitude", LON),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

stations = sa.Table(
    "stations", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("operator_id", sa.Text),
    sa.Column("location_id", sa.Text, sa.ForeignKey("locations.id")),
    sa.Column("latitude", LAT),
    sa.Column("longitude", LON),
    sa.Column("address", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("registered_via", sa.Text, nullable=False),
    sa.Column("security_profile", sa.Integer, nullable=False, server_default="0"),
    sa.Column("password_hash", sa.Text),
    sa.Column("heartbeat_interval_s", sa.Integer, nullable=False, server_default="300"),
    sa.Column("allowed_ocpp_versions", pg.ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("ocpp_version", sa.Text),
    sa.Column("vendor", sa.Text),
    sa.Column("model", sa.Text),
    sa.Column("serial_number", sa.Text),
    sa.Column("firmware_version", sa.Text),
    sa.Column("online", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("connectivity_at", TS),
    sa.Column("last_seen_at", TS),
    sa.Column("last_heartbeat_at", TS),
    sa.Column("last_boot_at", TS),
    sa.Column("registry_version", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

evses = sa.Table(
    "evses", metadata,
    sa.Column("station_id", sa.Text, sa.ForeignKey("stations.id"), primary_key=True),
    sa.Column("evse_id", sa.Integer, primary_key=True),
    sa.Column("max_power_w", sa.Integer),
)

connectors = sa.Table(
    "connectors", metadata,
    sa.Column("station_id", sa.Text, sa.ForeignKey("stations.id"), primary_key=True),
    sa.Column("evse_id", sa.Integer, primary_key=True),
    sa.Column("connector_id", sa.Integer, primary_key=True),
    sa.Column("connector_type", sa.Text),
    sa.Column("max_power_w", sa.Integer),
    sa.Column("status", sa.Text),
    sa.Column("error_code", sa.Text),
    sa.Column("status_at", TS),
    sa.Column("status_received_at", TS),
)

connector_status_history = sa.Table(
    "connector_status_history", metadata,
    sa.Column("source_event_id", sa.Text, primary_key=True),
    sa.Column("item", sa.Integer, primary_key=True),
    sa.Column("station_id", sa.Text, sa.ForeignKey("stations.id"), nullable=False),
    sa.Column("evse_id", sa.Integer, nullable=False),
    sa.Column("connector_id", sa.Integer, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("raw_status", sa.Text, nullable=False),
    sa.Column("error_code", sa.Text),
    sa.Column("charger_timestamp", TS),
    sa.Column("received_at", TS, nullable=False),
)

station_status_history = sa.Table(
    "station_status_history", metadata,
    sa.Column("source_id", sa.Text, primary_key=True),
    sa.Column("station_id", sa.Text, sa.ForeignKey("stations.id"), primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),  # REGISTRATION or CONNECTIVITY
    sa.Column("previous_status", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("at", TS, nullable=False),
)

# the last connection facts per station id, known or not: connection events and the boot that creates a station
# travel on different topics, so a station created after its CONNECTED event starts from these
station_connections = sa.Table(
    "station_connections", metadata,
    sa.Column("station_id", sa.Text, primary_key=True),
    sa.Column("connected_at", TS),
    sa.Column("disconnected_at", TS),
    sa.Column("ocpp_version", sa.Text),
)

station_configuration = sa.Table(
    "station_configuration", metadata,
    sa.Column("station_id", sa.Text, sa.ForeignKey("stations.id"), primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("component", sa.Text, nullable=False),
    sa.Column("component_instance", sa.Text),
    sa.Column("evse_id", sa.Integer),
    sa.Column("connector_id", sa.Integer),
    sa.Column("variable", sa.Text, nullable=False),
    sa.Column("variable_instance", sa.Text),
    sa.Column("attribute_type", sa.Text, nullable=False),
    sa.Column("value", sa.Text),
    sa.Column("readonly", sa.Boolean),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("reported_at", TS, nullable=False),
)

sa.Index("stations_online_seen", stations.c.last_seen_at, postgresql_where=stations.c.online)
sa.Index("connector_status_history_station", connector_status_history.c.station_id,
         connector_status_history.c.received_at)
sa.Index("station_status_history_station", station_status_history.c.station_id, station_status_history.c.at)
sa.Index("stations_status", stations.c.status)
sa.Index("stations_operator", stations.c.operator_id)
sa.Index("stations_location", stations.c.location_id)
sa.Index("connectors_type", connectors.c.connector_type)

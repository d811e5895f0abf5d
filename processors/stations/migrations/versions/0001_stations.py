"""The stations store: runtime tables, locations, stations, EVSEs, connectors, status history, configuration."""

from alembic import op

from processors.runtime import create_runtime_tables, drop_runtime_tables

revision = "0001"
down_revision = None

TABLES = """
create table locations (
    id text primary key,
    name text not null,
    operator_id text,
    address text,
    city text,
    postal_code text,
    country text,
    latitude numeric(10, 8),
    longitude numeric(11, 8),
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create table stations (
    id text primary key,
    name text,
    operator_id text,
    location_id text references locations (id),
    latitude numeric(10, 8),
    longitude numeric(11, 8),
    address text,
    status text not null,
    registered_via text not null,
    security_profile integer not null default 0,
    password_hash text,
    heartbeat_interval_s integer not null default 300,
    allowed_ocpp_versions text[] not null default '{}',
    ocpp_version text,
    vendor text,
    model text,
    serial_number text,
    firmware_version text,
    online boolean not null default false,
    connectivity_at timestamptz,
    last_seen_at timestamptz,
    last_heartbeat_at timestamptz,
    last_boot_at timestamptz,
    registry_version bigint not null default 0,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index stations_status on stations (status);
create index stations_operator on stations (operator_id);
create index stations_location on stations (location_id);
create index stations_online_seen on stations (last_seen_at) where online;
create table evses (
    station_id text not null references stations (id),
    evse_id integer not null,
    max_power_w integer,
    primary key (station_id, evse_id)
);
create table connectors (
    station_id text not null references stations (id),
    evse_id integer not null,
    connector_id integer not null,
    connector_type text,
    max_power_w integer,
    status text,
    error_code text,
    status_at timestamptz,
    status_received_at timestamptz,
    primary key (station_id, evse_id, connector_id)
);
create index connectors_type on connectors (connector_type);
create table connector_status_history (
    source_event_id text not null,
    item integer not null,
    station_id text not null references stations (id),
    evse_id integer not null,
    connector_id integer not null,
    status text not null,
    raw_status text not null,
    error_code text,
    charger_timestamp timestamptz,
    received_at timestamptz not null,
    primary key (source_event_id, item)
);
create index connector_status_history_station on connector_status_history (station_id, received_at);
create table station_status_history (
    source_id text not null,
    station_id text not null references stations (id),
    kind text not null,
    previous_status text,
    status text not null,
    reason text,
    at timestamptz not null,
    primary key (source_id, station_id, kind)
);
create index station_status_history_station on station_status_history (station_id, at);
create table station_connections (
    station_id text primary key,
    connected_at timestamptz,
    disconnected_at timestamptz,
    ocpp_version text
);
create table station_configuration (
    station_id text not null references stations (id),
    key text not null,
    component text not null,
    component_instance text,
    evse_id integer,
    connector_id integer,
    variable text not null,
    variable_instance text,
    attribute_type text not null,
    value text,
    readonly boolean,
    source text not null,
    reported_at timestamptz not null,
    primary key (station_id, key)
);
"""


def upgrade() -> None:
    create_runtime_tables(op)
    for statement in TABLES.split(";"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    for table in ("station_connections", "station_configuration", "station_status_history",
                  "connector_status_history", "connectors", "evses", "stations", "locations"):
        op.execute(f"drop table {table}")
    drop_runtime_tables(op)

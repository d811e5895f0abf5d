"""The monitoring store: time series (partitioned by time), fleet health, sessions, daily stats, alerts.

Partitions of meter_samples / meter_rollup_1m (daily) and meter_rollup_1h (monthly) are created by the processor
(ahead of time, and on demand for late data) and dropped after their retention: processors/monitoring/partitions.py.
"""

from alembic import op

from processors.runtime import create_runtime_tables, drop_runtime_tables

revision = "0001"
down_revision = None

_ROLLUP_COLUMNS = """
    bucket timestamptz not null, station_id text not null, evse_id int not null, connector_id int not null,
    measurand text not null, phase text not null, unit text not null,
    n bigint not null, total double precision not null, min double precision not null,
    max double precision not null, last_ts timestamptz not null, last double precision not null,
    primary key (station_id, evse_id, connector_id, measurand, phase, unit, bucket)
"""

_DDL = f"""
create table station_state (
    station_id text primary key, site_id text, operator_id text, registry_status text,
    ocpp_version text, vendor text, model text, firmware_version text,
    connected boolean not null default false, connected_since timestamptz, disconnected_at timestamptz,
    last_message_at timestamptz, last_heartbeat_at timestamptz, last_boot_at timestamptz,
    firmware_status text, firmware_status_at timestamptz, diagnostics_status text, diagnostics_status_at timestamptz,
    first_seen_at timestamptz not null default now()
);
create index station_state_site on station_state (site_id);
create index station_state_operator on station_state (operator_id);

create table connector_state (
    station_id text not null, evse_id int not null, connector_id int not null,
    status text not null, error_code text, vendor_error_code text, status_since timestamptz not null,
    charging boolean not null default false, charging_since timestamptz, updated_at timestamptz not null,
    primary key (station_id, evse_id, connector_id)
);

create table status_history (
    id bigint generated always as identity primary key,
    station_id text not null, evse_id int not null, connector_id int not null, status text not null,
    error_code text, vendor_error_code text, vendor_id text, info text,
    charger_ts timestamptz, at timestamptz not null, received_at timestamptz not null
);
create index status_history_station on status_history (station_id, at);

create table station_events (
    id bigint generated always as identity primary key,
    station_id text not null, kind text not null, code text, detail text,
    evse_id int, connector_id int, charger_ts timestamptz, at timestamptz not null
);
create index station_events_station on station_events (station_id, at);
create index station_events_kind on station_events (kind, at);

create table connection_intervals (
    connection_id text primary key, station_id text not null, edge_id text,
    connected_at timestamptz not null, disconnected_at timestamptz, close_code int, close_reason text
);
create index connection_intervals_station on connection_intervals (station_id, connected_at);
create index connection_intervals_open on connection_intervals (station_id) where disconnected_at is null;

create table sessions (
    station_id text not null, transaction_id text not null, evse_id int, connector_id int,
    id_tag text, auth_status text, started_at timestamptz, stopped_at timestamptz,
    meter_start_wh double precision, meter_stop_wh double precision,
    register_min_wh double precision, register_max_wh double precision,
    energy_wh double precision, stop_reason text, failed boolean not null default false,
    primary key (station_id, transaction_id)
);
create index sessions_stopped on sessions (stopped_at);

create table meter_samples (
    ts timestamptz not null, received_at timestamptz not null, charger_ts timestamptz,
    station_id text not null, evse_id int not null, connector_id int not null, transaction_id text,
    measurand text not null, phase text, location text, unit text, context text,
    value double precision not null
) partition by range (ts);
create index meter_samples_station on meter_samples (station_id, ts);
create index meter_samples_ts on meter_samples using brin (ts);

create table meter_rollup_1m ({_ROLLUP_COLUMNS}) partition by range (bucket);
create table meter_rollup_1h ({_ROLLUP_COLUMNS}) partition by range (bucket);

create table daily_station_stats (
    station_id text not null, day date not null,
    energy_wh double precision not null default 0, sessions int not null default 0,
    failed_sessions int not null default 0, uptime_s double precision not null default 0,
    errors int not null default 0, boots int not null default 0, disconnections int not null default 0,
    auth_failures int not null default 0, security_events int not null default 0,
    primary key (station_id, day)
);
create index daily_station_stats_day on daily_station_stats (day);

create table daily_connector_stats (
    station_id text not null, evse_id int not null, connector_id int not null, day date not null,
    occupied_s double precision not null default 0, charging_s double precision not null default 0,
    primary key (station_id, evse_id, connector_id, day)
);
create index daily_connector_stats_day on daily_connector_stats (day);

create table revenue_sessions (
    session_id text primary key, station_id text, currency text, amount numeric(18, 4),
    billable boolean not null default false, ended_at timestamptz, priced_at timestamptz
);
create index revenue_sessions_ended on revenue_sessions (ended_at);

create table alert_rules (
    rule_id text primary key, name text not null, rule_type text not null, severity text not null,
    scope_kind text not null, scope_id text, params jsonb not null, cooldown_s int not null,
    webhook_url text, secret_version int not null default 1, enabled boolean not null default true,
    created_at timestamptz not null, updated_at timestamptz not null, deleted_at timestamptz
);

create table alerts (
    alert_id text primary key, rule_id text not null references alert_rules (rule_id),
    rule_type text not null, severity text not null, station_id text, subject text not null,
    state text not null, message text, opened_at timestamptz not null,
    acknowledged_at timestamptz, acknowledged_by text, resolved_at timestamptz, resolution text
);
create unique index alerts_active on alerts (rule_id, subject) where state <> 'RESOLVED';
create index alerts_rule_subject on alerts (rule_id, subject, resolved_at);
create index alerts_opened on alerts (opened_at);

create table webhook_deliveries (
    id bigint generated always as identity primary key, rule_id text not null, alert_id text not null,
    transition text not null, url text not null, body bytea not null, secret_version int not null,
    status text not null default 'PENDING', attempts int not null default 0,
    next_attempt_at timestamptz not null default now(), last_status int, last_error text,
    created_at timestamptz not null default now(), delivered_at timestamptz
);
create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where status = 'PENDING';

create table dead_letters (
    event_id text primary key, consumer_group text not null, topic text not null, partition int not null,
    "offset" bigint not null, reason text not null, error text not null, failed_at timestamptz not null
);
create index dead_letters_at on dead_letters (failed_at);
"""

_TABLES = ("dead_letters", "webhook_deliveries", "alerts", "alert_rules", "revenue_sessions", "daily_connector_stats",
           "daily_station_stats", "meter_rollup_1h", "meter_rollup_1m", "meter_samples", "sessions",
           "connection_intervals", "station_events", "status_history", "connector_state", "station_state")


def upgrade() -> None:
    create_runtime_tables(op)
    for statement in _DDL.split(";"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    for table in _TABLES:
        op.execute(f"drop table if exists {table} cascade")
    drop_runtime_tables(op)

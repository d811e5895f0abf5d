"""The drivers store: runtime tables, membership levels, drivers, id tokens and their history, authorization
records, station sites (from stations.registry), local authorization lists; `rfid_cards` is a view of the
card tokens (the seed's table name)."""

from alembic import op

from processors.runtime import create_runtime_tables, drop_runtime_tables

revision = "0001"
down_revision = None

TABLES = """
create table membership_levels (
    code text primary key,
    name text not null,
    benefits jsonb not null default '{}',
    created_at timestamptz not null,
    updated_at timestamptz not null
);
insert into membership_levels (code, name, benefits, created_at, updated_at)
values ('BASIC', 'Basic', '{}', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
create table drivers (
    id text primary key,
    user_id text unique,
    name text not null,
    email text not null,
    phone text,
    membership_level text not null references membership_levels (code),
    status text not null,
    allowed_station_ids text[],
    allowed_location_ids text[],
    allowed_hours jsonb,
    version bigint not null default 1,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz
);
create unique index drivers_email_live on drivers (lower(email)) where deleted_at is null;
create table id_tokens (
    token_key text primary key,
    id_token text not null,
    token_type text not null,
    status text not null,
    expires_at timestamptz,
    group_id text,
    driver_id text references drivers (id),
    allow_concurrent_sessions boolean not null default false,
    cap_energy_wh_per_session bigint,
    cap_energy_wh_per_month bigint,
    cap_seconds_per_session bigint,
    cap_seconds_per_month bigint,
    cap_money_per_session numeric(12, 2),
    cap_money_per_month numeric(12, 2),
    cap_currency text,
    version bigint not null default 0,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz
);
create index id_tokens_driver on id_tokens (driver_id);
create table token_history (
    token_key text not null references id_tokens (token_key),
    version bigint not null,
    action text not null,
    status text not null,
    published_status text not null,
    driver_id text,
    reason text,
    command_id text,
    at timestamptz not null,
    primary key (token_key, version)
);
create table authorizations (
    source_event_id text primary key,
    station_id text not null,
    token_key text not null,
    id_token text not null,
    token_type text not null,
    driver_id text,
    action text not null,
    outcome text not null,
    transaction_id text,
    decided_at timestamptz not null
);
create index authorizations_driver on authorizations (driver_id, decided_at);
create index authorizations_token on authorizations (token_key, decided_at);
create index authorizations_station on authorizations (station_id, decided_at);
create table station_sites (
    station_id text primary key,
    location_id text,
    registry_version bigint not null
);
create table local_auth_lists (
    station_id text primary key,
    list_version integer not null,
    content_hash text not null,
    entries integer not null,
    updated_at timestamptz not null
);
create view rfid_cards as
    select token_key, id_token as uid, token_type, status, expires_at, driver_id, created_at, deleted_at
    from id_tokens where token_type in ('ISO14443', 'ISO15693');
"""


def upgrade() -> None:
    create_runtime_tables(op)
    for statement in TABLES.split(";"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    op.execute("drop view rfid_cards")
    for table in ("local_auth_lists", "station_sites", "authorizations", "token_history", "id_tokens", "drivers",
                  "membership_levels"):
        op.execute(f"drop table {table}")
    drop_runtime_tables(op)

"""The monitoring store's tables (SQLAlchemy Core, one MetaData). The DDL itself is migrations/versions/0001.

Hot-path writes (sampled values, roll-ups) are in `_timeseries.py`; fleet-health writes in `_health.py`; alerts
and rules in `_alerts.py`; partition management in `partitions.py`.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()
_tz = sa.DateTime(timezone=True)


station_state = sa.Table(
    "station_state",
    metadata,
    sa.Column("station_id", sa.Text, primary_key=True),
    sa.Column("site_id", sa.Text),
    sa.Column("operator_id", sa.Text),
    sa.Column("registry_status", sa.Text),
    sa.Column("ocpp_version", sa.Text),
    sa.Column("vendor", sa.Text),
    sa.Column("model", sa.Text),
    sa.Column("firmware_version", sa.Text),
    sa.Column("connected", sa.Boolean, nullable=False),
    sa.Column("connected_since", _tz),
    sa.Column("disconnected_at", _tz),
    sa.Column("last_message_at", _tz),
    sa.Column("last_heartbeat_at", _tz),
    sa.Column("last_boot_at", _tz),
    sa.Column("firmware_status", sa.Text),
    sa.Column("firmware_status_at", _tz),
    sa.Column("diagnostics_status", sa.Text),
    sa.Column("diagnostics_status_at", _tz),
    sa.Column("first_seen_at", _tz, nullable=False),
)

connector_state = sa.Table(
    "connector_state",
    metadata,
    sa.Column("station_id", sa.Text, primary_key=True),
    sa.Column("evse_id", sa.Integer, primary_key=True),
    sa.Column("connector_id", sa.Integer, primary_key=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("error_code", sa.Text),
    sa.Column("vendor_error_code", sa.Text),
    sa.Column("status_since", _tz, nullable=False),
    sa.Column("charging", sa.Boolean, nullable=False),
    sa.Column("charging_since", _tz),
    sa.Column("updated_at", _tz, nullable=False),
)

status_history = sa.Table(
    "status_history",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("station_id", sa.Text, nullable=False),
    sa.Column("evse_id", sa.Integer, nullable=False),
    sa.Column("connector_id", sa.Integer, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("error_code", sa.Text),
    sa.Column("vendor_error_code", sa.Text),
    sa.Column("vendor_id", sa.Text),
    sa.Column("info", sa.Text),
    sa.Column("charger_ts", _tz),
    sa.Column("at", _tz, nullable=False),
    sa.Column("received_at", _tz, nullable=False),
)

station_events = sa.Table(
    "station_events",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("station_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("code", sa.Text),
    sa.Column("detail", sa.Text),
    sa.Column("evse_id", sa.Integer),
    sa.Column("connector_id", sa.Integer),
    sa.Column("charger_ts", _tz),
    sa.Column("at", _tz, nullable=False),
)

connection_intervals = sa.Table(
    "connection_intervals",
    metadata,
    sa.Column("connection_id", sa.Text, primary_key=True),
    sa.Column("station_id", sa.Text, nullable=False),
    sa.Column("edge_id", sa.Text),
    sa.Column("connected_at", _tz, nullable=False),
    sa.Column("disconnected_at", _tz),
    sa.Column("close_code", sa.Integer),
    sa.Column("close_reason", sa.Text),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("station_id", sa.Text, primary_key=True),
    sa.Column("transaction_id", sa.Text, primary_key=True),
    sa.Column("evse_id", sa.Integer),
    sa.Column("connector_id", sa.Integer),
    sa.Column("id_tag", sa.Text),
    sa.Column("auth_status", sa.Text),
    sa.Column("started_at", _tz),
    sa.Column("stopped_at", _tz),
    sa.Column("meter_start_wh", sa.Float),
    sa.Column("meter_stop_wh", sa.Float),
    sa.Column("register_min_wh", sa.Float),
    sa.Column("register_max_wh", sa.Float),
    sa.Column("energy_wh", sa.Float),
    sa.Column("stop_reason", sa.Text),
    sa.Column("failed", sa.Boolean, nullable=False),
)


def _rollup(name: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("bucket", _tz, primary_key=True),
        sa.Column("station_id", sa.Text, primary_key=True),
        sa.Column("evse_id", sa.Integer, primary_key=True),
        sa.Column("connector_id", sa.Integer, primary_key=True),
        sa.Column("measurand", sa.Text, primary_key=True),
        sa.Column("phase", sa.Text, primary_key=True),
        sa.Column("unit", sa.Text, primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("total", sa.Float, nullable=False),
        sa.Column("min", sa.Float, nullable=False),
        sa.Column("max", sa.Float, nullable=False),
        sa.Column("last_ts", _tz, nullable=False),
        sa.Column("last", sa.Float, nullable=False),
        postgresql_partition_by="RANGE (bucket)",
    )


meter_samples = sa.Table(
    "meter_samples",
    metadata,
    sa.Column("ts", _tz, nullable=False),
    sa.Column("received_at", _tz, nullable=False),
    sa.Column("charger_ts", _tz),
    sa.Column("station_id", sa.Text, nullable=False),
    sa.Column("evse_id", sa.Integer, nullable=False),
    sa.Column("connector_id", sa.Integer, nullable=False),
    sa.Column("transaction_id", sa.Text),
    sa.Column("measurand", sa.Text, nullable=False),
    sa.Column("phase", sa.Text),
    sa.Column("location", sa.Text),
    sa.Column("unit", sa.Text),
    sa.Column("context", sa.Text),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("batch_id", sa.BigInteger, server_default=sa.text("txid_current()")),
    postgresql_partition_by="RANGE (ts)",
)
# batches whose samples are stored but not yet rolled up (_timeseries.fold_rollups)
meter_pending_batches = sa.Table(
    "meter_pending_batches",
    metadata,
    sa.Column("batch_id", sa.BigInteger, primary_key=True),
    sa.Column("min_ts", _tz, nullable=False),
    sa.Column("max_ts", _tz, nullable=False),
)
meter_rollup_1m = _rollup("meter_rollup_1m")
meter_rollup_1h = _rollup("meter_rollup_1h")

daily_station_stats = sa.Table(
    "daily_station_stats",
    metadata,
    sa.Column("station_id", sa.Text, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    *(sa.Column(c, sa.Float, nullable=False) for c in ("energy_wh", "uptime_s")),
    *(
        sa.Column(c, sa.Integer, nullable=False)
        for c in (
            "sessions",
            "failed_sessions",
            "errors",
            "boots",
            "disconnections",
            "auth_failures",
            "security_events",
        )
    ),
)

daily_connector_stats = sa.Table(
    "daily_connector_stats",
    metadata,
    sa.Column("station_id", sa.Text, primary_key=True),
    sa.Column("evse_id", sa.Integer, primary_key=True),
    sa.Column("connector_id", sa.Integer, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("occupied_s", sa.Float, nullable=False),
    sa.Column("charging_s", sa.Float, nullable=False),
)

revenue_sessions = sa.Table(
    "revenue_sessions",
    metadata,
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("station_id", sa.Text),
    sa.Column("currency", sa.Text),
    sa.Column("amount", sa.Numeric(18, 4)),
    sa.Column("billable", sa.Boolean, nullable=False),
    sa.Column("ended_at", _tz),
    sa.Column("priced_at", _tz),
)

alert_rules = sa.Table(
    "alert_rules",
    metadata,
    sa.Column("rule_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("rule_type", sa.Text, nullable=False),
    sa.Column("severity", sa.Text, nullable=False),
    sa.Column("scope_kind", sa.Text, nullable=False),
    sa.Column("scope_id", sa.Text),
    sa.Column("params", JSONB, nullable=False),
    sa.Column("cooldown_s", sa.Integer, nullable=False),
    sa.Column("webhook_url", sa.Text),
    sa.Column("secret_version", sa.Integer, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("created_at", _tz, nullable=False),
    sa.Column("updated_at", _tz, nullable=False),
    sa.Column("deleted_at", _tz),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("alert_id", sa.Text, primary_key=True),
    sa.Column("rule_id", sa.Text, sa.ForeignKey("alert_rules.rule_id"), nullable=False),
    sa.Column("rule_type", sa.Text, nullable=False),
    sa.Column("severity", sa.Text, nullable=False),
    sa.Column("station_id", sa.Text),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("message", sa.Text),
    sa.Column("opened_at", _tz, nullable=False),
    sa.Column("acknowledged_at", _tz),
    sa.Column("acknowledged_by", sa.Text),
    sa.Column("resolved_at", _tz),
    sa.Column("resolution", sa.Text),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("rule_id", sa.Text, nullable=False),
    sa.Column("alert_id", sa.Text, nullable=False),
    sa.Column("transition", sa.Text, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("secret_version", sa.Integer, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", _tz, nullable=False),
    sa.Column("last_status", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", _tz, nullable=False),
    sa.Column("delivered_at", _tz),
)

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("consumer_group", sa.Text, nullable=False),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("partition", sa.Integer, nullable=False),
    sa.Column("offset", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("failed_at", _tz, nullable=False),
)

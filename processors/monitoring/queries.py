"""Read-only queries over the monitoring store, for read_api (each takes an AsyncConnection; none writes).

Time series: `time_series`. Fleet health: `station_health`, `status_history`, `station_events`,
`connection_uptime`. Alerts: `alerts`, `alert`, `rules`, `rule`, `webhook_deliveries`, `webhook_secret`.
Predictive maintenance: `stations_at_risk`. Reports and exports: `report`, `report_csv`, `report_json`
(reports.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from processors.monitoring.domain import RiskCounts, risk_score
from processors.monitoring.domain.samples import DEFAULT_MEASURAND
from processors.monitoring.reports import report, report_csv, report_json
from processors.monitoring.store import (
    alert_rules,
    connection_intervals,
    connector_state,
    daily_station_stats,
    meter_rollup_1h,
    meter_rollup_1m,
    meter_samples,
    station_state,
)
from processors.monitoring.store import (
    alerts as alerts_table,
)
from processors.monitoring.store import (
    station_events as events_table,
)
from processors.monitoring.store import (
    status_history as history_table,
)
from processors.monitoring.store import (
    webhook_deliveries as deliveries_table,
)
from processors.monitoring.webhooks import rule_secret as webhook_secret

__all__ = ["alert", "alerts", "connection_uptime", "report", "report_csv", "report_json", "rule", "rules",
           "station_events", "station_health", "stations_at_risk", "status_history", "time_series",
           "webhook_deliveries", "webhook_secret"]


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in result]


async def time_series(conn: AsyncConnection, station_id: str, start: datetime, end: datetime, *,
                      measurand: str = DEFAULT_MEASURAND, resolution: str = "1m", evse_id: int | None = None,
                      connector_id: int | None = None, limit: int = 10_000) -> list[dict[str, Any]]:
    """Values of one measurand of a station in [start, end): `raw` samples, or `1m` / `1h` aggregates."""
    if resolution == "raw":
        t, time_col = meter_samples, meter_samples.c.ts
        cols: list[Any] = [t.c.ts, t.c.evse_id, t.c.connector_id, t.c.phase, t.c.location, t.c.unit, t.c.context,
                           t.c.value, t.c.transaction_id, t.c.charger_ts, t.c.received_at]
    elif resolution in ("1m", "1h"):
        t = meter_rollup_1m if resolution == "1m" else meter_rollup_1h
        time_col = t.c.bucket
        cols = [t.c.bucket.label("ts"), t.c.evse_id, t.c.connector_id, t.c.phase, t.c.unit, t.c.n,
                (t.c.total / t.c.n).label("avg"), t.c.min, t.c.max, t.c.last]
    else:
        raise ValueError("resolution is raw, 1m or 1h")
    query = sa.select(*cols).where(t.c.station_id == station_id, t.c.measurand == measurand, time_col >= start,
                                   time_col < end)
    if evse_id is not None:
        query = query.where(t.c.evse_id == evse_id)
    if connector_id is not None:
        query = query.where(t.c.connector_id == connector_id)
    return _rows(await conn.execute(query.order_by(time_col).limit(limit)))


async def station_health(conn: AsyncConnection, station_id: str) -> dict[str, Any] | None:
    """A station's current state (connection, last seen, firmware / diagnostics status) and its connectors."""
    row = (await conn.execute(sa.select(station_state).where(station_state.c.station_id == station_id))).first()
    if row is None:
        return None
    connectors = await conn.execute(sa.select(connector_state).where(connector_state.c.station_id == station_id)
                                    .order_by(connector_state.c.evse_id, connector_state.c.connector_id))
    return {**row._mapping, "connectors": _rows(connectors)}


async def status_history(conn: AsyncConnection, station_id: str, start: datetime, end: datetime, *,
                         evse_id: int | None = None, connector_id: int | None = None,
                         limit: int = 1000) -> list[dict[str, Any]]:
    """Status notifications of a station's connectors in [start, end), with error and vendor error codes."""
    t = history_table
    query = sa.select(t).where(t.c.station_id == station_id, t.c.at >= start, t.c.at < end)
    if evse_id is not None:
        query = query.where(t.c.evse_id == evse_id)
    if connector_id is not None:
        query = query.where(t.c.connector_id == connector_id)
    return _rows(await conn.execute(query.order_by(t.c.at, t.c.id).limit(limit)))


async def station_events(conn: AsyncConnection, start: datetime, end: datetime, *, station_id: str | None = None,
                         kinds: list[str] | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Fleet-health events (STATUS_ERROR, NOTIFY_EVENT, SECURITY_EVENT, FIRMWARE_STATUS, DIAGNOSTICS_STATUS, BOOT,
    AUTH_FAILED, CONNECTION_REFUSED) in [start, end), newest first."""
    t = events_table
    query = sa.select(t).where(t.c.at >= start, t.c.at < end)
    if station_id is not None:
        query = query.where(t.c.station_id == station_id)
    if kinds:
        query = query.where(t.c.kind.in_(kinds))
    return _rows(await conn.execute(query.order_by(t.c.at.desc(), t.c.id.desc()).limit(limit)))


async def connection_uptime(conn: AsyncConnection, station_id: str, start: datetime, end: datetime, *,
                            now: datetime | None = None) -> dict[str, Any]:
    """Seconds a station was connected in [start, end) (open connections count until `now`) and the percentage."""
    now = now or datetime.now(UTC)
    t = connection_intervals
    upper = sa.func.least(sa.func.coalesce(t.c.disconnected_at, now), end)
    seconds = sa.func.coalesce(sa.func.sum(sa.func.extract("epoch", upper - sa.func.greatest(t.c.connected_at, start))
                                           ), 0)
    query = sa.select(seconds).where(t.c.station_id == station_id, t.c.connected_at < end,
                                     sa.func.coalesce(t.c.disconnected_at, now) > start)
    connected = float((await conn.execute(query)).scalar_one())
    span = max(0.0, (min(end, now) - start).total_seconds())
    return {"station_id": station_id, "connected_s": connected, "period_s": span,
            "uptime_pct": round(100 * min(connected, span) / span, 3) if span else None}


async def alerts(conn: AsyncConnection, *, state: str | None = None, station_id: str | None = None,
                 rule_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Alerts, newest first, filtered by state (OPEN, ACKNOWLEDGED, RESOLVED), station or rule."""
    t = alerts_table
    query = sa.select(t)
    for column, value in ((t.c.state, state), (t.c.station_id, station_id), (t.c.rule_id, rule_id)):
        if value is not None:
            query = query.where(column == value)
    return _rows(await conn.execute(query.order_by(t.c.opened_at.desc()).limit(limit)))


async def alert(conn: AsyncConnection, alert_id: str) -> dict[str, Any] | None:
    """One alert."""
    row = (await conn.execute(sa.select(alerts_table).where(alerts_table.c.alert_id == alert_id))).first()
    return dict(row._mapping) if row is not None else None


async def rules(conn: AsyncConnection, *, include_deleted: bool = False) -> list[dict[str, Any]]:
    """Alert rules (never a webhook secret: see `webhook_secret`)."""
    query = sa.select(alert_rules).order_by(alert_rules.c.created_at)
    if not include_deleted:
        query = query.where(alert_rules.c.deleted_at.is_(None))
    return _rows(await conn.execute(query))


async def rule(conn: AsyncConnection, rule_id: str) -> dict[str, Any] | None:
    """One alert rule."""
    row = (await conn.execute(sa.select(alert_rules).where(alert_rules.c.rule_id == rule_id))).first()
    return dict(row._mapping) if row is not None else None


async def webhook_deliveries(conn: AsyncConnection, *, rule_id: str | None = None, alert_id: str | None = None,
                             limit: int = 100) -> list[dict[str, Any]]:
    """The delivery log (status, attempts, last HTTP status or error), newest first, without bodies."""
    t = deliveries_table
    query = sa.select(*(c for c in t.c if c.name != "body"))
    if rule_id is not None:
        query = query.where(t.c.rule_id == rule_id)
    if alert_id is not None:
        query = query.where(t.c.alert_id == alert_id)
    return _rows(await conn.execute(query.order_by(t.c.id.desc()).limit(limit)))


async def stations_at_risk(conn: AsyncConnection, *, today: date | None = None,
                           limit: int = 50) -> list[dict[str, Any]]:
    """Stations by predictive-maintenance score, highest first (docs/monitoring.md: the score)."""
    today = today or datetime.now(UTC).date()
    d = daily_station_stats
    recent = d.c.day > today - timedelta(days=7)
    names = {"errors": d.c.errors, "reboots": d.c.boots, "failed_sessions": d.c.failed_sessions,
             "disconnections": d.c.disconnections}
    cols: list[Any] = [d.c.station_id]
    # in RiskCounts' field order: every 7-day count, then every 30-day count
    cols += [sa.func.coalesce(sa.func.sum(c).filter(recent), 0).label(f"{n}_7d") for n, c in names.items()]
    cols += [sa.func.sum(c).label(f"{n}_30d") for n, c in names.items()]
    rows = await conn.execute(sa.select(*cols).where(d.c.day > today - timedelta(days=30), d.c.day <= today)
                              .group_by(d.c.station_id))
    scored = []
    for row in rows:
        counts = RiskCounts(row.station_id, *(int(v) for v in row[1:]))
        score = risk_score(counts)
        if score > 0:
            scored.append({"score": score, **row._mapping})
    scored.sort(key=lambda r: (-r["score"], r["station_id"]))
    return scored[:limit]

"""Reports from the pre-aggregated daily tables: energy, sessions, utilisation, availability, revenue.

Grouped by station, site or operator and by day, week (ISO, from Monday) or month, for any past period
[start, end) of UTC days. Intervals still open (a station connected, a connector occupied or charging) are added
up to `now`, so a report of a past period is reproducible from the stored data and today's report is current.
Availability = uptime / (stations x period); utilisation = occupied (or charging) time / (connectors x period).
Stations are grouped by their current site and operator (from stations.registry).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from processors.monitoring.domain import split_by_day

GROUPS = {"station": "s.station_id", "site": "coalesce(s.site_id, '(none)')",
          "operator": "coalesce(s.operator_id, '(none)')"}
PERIODS = ("day", "week", "month")
_SUMS = ("energy_wh", "sessions", "failed_sessions", "uptime_s", "occupied_s", "charging_s")


def period_of(day: date, period: str) -> date:
    """First day of the day / ISO week / month holding `day`."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1) if period == "month" else day


def _next(start: date, period: str) -> date:
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def _sql(group: str) -> dict[str, sa.TextClause]:
    key = GROUPS[group]
    return {
        "daily": sa.text(f"""select d.day, {key} as grp, sum(d.energy_wh) as energy_wh, sum(d.sessions) as sessions,
            sum(d.failed_sessions) as failed_sessions, sum(d.uptime_s) as uptime_s
            from daily_station_stats d left join station_state s on s.station_id = d.station_id
            where d.day >= :start and d.day < :end group by 1, 2"""),
        "connectors": sa.text(f"""select c.day, {key} as grp, sum(c.occupied_s) as occupied_s,
            sum(c.charging_s) as charging_s
            from daily_connector_stats c left join station_state s on s.station_id = c.station_id
            where c.day >= :start and c.day < :end group by 1, 2"""),
        "revenue": sa.text(f"""select r.ended_at::date as day, {key} as grp, r.currency, sum(r.amount) as amount
            from revenue_sessions r left join station_state s on s.station_id = r.station_id
            where r.billable and r.ended_at >= :start and r.ended_at < :end and r.amount is not null
            group by 1, 2, 3"""),
        "sizes": sa.text(f"""select {key} as grp, count(distinct s.station_id) as stations,
            count(c.station_id) as connectors
            from station_state s left join connector_state c on c.station_id = s.station_id and c.connector_id > 0
            group by 1"""),
        "open_uptime": sa.text(f"""select {key} as grp, s.connected_since as since from station_state s
            where s.connected and s.connected_since is not null"""),
        "open_connectors": sa.text(f"""select {key} as grp, c.status, c.status_since, c.charging, c.charging_since
            from connector_state c left join station_state s on s.station_id = c.station_id"""),
    }


async def report(conn: AsyncConnection, start: date, end: date, *, group_by: str = "station",
                 period: str = "day", now: datetime | None = None) -> list[dict[str, Any]]:
    """One row per (period, group) with activity in [start, end), ordered by period then group."""
    if group_by not in GROUPS or period not in PERIODS:
        raise ValueError(f"group_by in {sorted(GROUPS)}, period in {PERIODS}")
    now = now or datetime.now(UTC)
    sql, bounds = _sql(group_by), {"start": start, "end": end}
    totals: dict[tuple[date, str], dict[str, Any]] = defaultdict(lambda: dict.fromkeys(_SUMS, 0.0) | {"revenue": {}})
    for name, columns in (("daily", _SUMS[:4]), ("connectors", _SUMS[4:])):
        for day, grp, *values in await conn.execute(sql[name], bounds):
            bucket = totals[(period_of(day, period), grp)]
            for column, value in zip(columns, values, strict=True):
                bucket[column] += float(value or 0)
    for row in await conn.execute(sql["revenue"], bounds):
        money = totals[(period_of(row.day, period), row.grp)]["revenue"]
        money[row.currency] = money.get(row.currency, Decimal(0)) + row.amount
    window_end = datetime.combine(end, datetime.min.time(), UTC)
    window_start = datetime.combine(start, datetime.min.time(), UTC)

    def add_open(grp: str, column: str, since: datetime) -> None:
        for day, seconds in split_by_day(max(since, window_start), min(now, window_end)):
            totals[(period_of(day, period), grp)][column] += seconds

    for row in await conn.execute(sql["open_uptime"]):
        add_open(row.grp, "uptime_s", row.since)
    for row in await conn.execute(sql["open_connectors"]):
        if row.status in ("Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Occupied"):
            add_open(row.grp, "occupied_s", row.status_since)
        if row.charging and row.charging_since is not None:
            add_open(row.grp, "charging_s", row.charging_since)
    sizes = {row.grp: (row.stations, row.connectors) for row in await conn.execute(sql["sizes"])}
    return [_row(p, grp, period, group_by, values, sizes.get(grp, (0, 0)), start, end, now)
            for (p, grp), values in sorted(totals.items())]


def _row(p: date, grp: str, period: str, group_by: str, v: dict[str, Any], size: tuple[int, int], start: date,
         end: date, now: datetime) -> dict[str, Any]:
    first = datetime.combine(max(p, start), datetime.min.time(), UTC)
    last = min(datetime.combine(min(_next(p, period), end), datetime.min.time(), UTC), max(now, first))
    span = (last - first).total_seconds()
    stations, connectors = size

    def pct(value: float, units: int) -> float | None:
        return round(100 * value / (units * span), 3) if units and span > 0 else None

    return {"period": p.isoformat(), "period_kind": period, "group_by": group_by, "group": grp,
            "stations": stations, "connectors": connectors, "energy_kwh": round(v["energy_wh"] / 1000, 3),
            "sessions": int(v["sessions"]), "failed_sessions": int(v["failed_sessions"]),
            "occupied_s": round(v["occupied_s"], 1), "charging_s": round(v["charging_s"], 1),
            "utilisation_pct": pct(v["occupied_s"], connectors), "charging_pct": pct(v["charging_s"], connectors),
            "uptime_s": round(v["uptime_s"], 1), "availability_pct": pct(v["uptime_s"], stations),
            "revenue": {cur: str(v["revenue"][cur]) for cur in sorted(v["revenue"])}}


def report_json(rows: list[dict[str, Any]]) -> bytes:
    """Report rows as a JSON array."""
    return orjson.dumps(rows)


def report_csv(rows: list[dict[str, Any]]) -> str:
    """Report rows as CSV; revenue becomes one column per currency (`revenue_EUR`, ...)."""
    currencies = sorted({cur for r in rows for cur in r["revenue"]})
    fields = [k for k in (rows[0] if rows else {}) if k != "revenue"] + [f"revenue_{c}" for c in currencies]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({**{k: v for k, v in r.items() if k != "revenue"},
                         **{f"revenue_{c}": r["revenue"].get(c, "") for c in currencies}})
    return out.getvalue()

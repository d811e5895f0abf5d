"""Fleet-health writes: status history and connector state, station events, connections, sessions, daily stats.

Closed intervals (a connector occupied or charging, a station connected) are split by UTC day and added to the
daily tables when they close; reports add the still-open intervals at query time (reports.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from processors.monitoring.domain import is_charging, is_occupied, split_by_day
from processors.monitoring.store import (
    connection_intervals,
    connector_state,
    daily_connector_stats,
    daily_station_stats,
    station_events,
    station_state,
    status_history,
)

_DAILY_COUNTERS = frozenset(c.name for c in daily_station_stats.c) - {"station_id", "day"}


async def add_daily(conn: AsyncConnection, station_id: str, at: datetime, **increments: float) -> None:
    """Add to the station's counters of the UTC day of `at`."""
    unknown = set(increments) - _DAILY_COUNTERS
    if unknown:
        raise ValueError(f"unknown daily counters {sorted(unknown)}")
    values = {c: 0 for c in _DAILY_COUNTERS} | increments
    stmt = insert(daily_station_stats).values(station_id=station_id, day=at.date(), **values)
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=["station_id", "day"],
        set_={c: daily_station_stats.c[c] + stmt.excluded[c] for c in increments}))


async def add_uptime(conn: AsyncConnection, station_id: str, start: datetime, end: datetime) -> None:
    """Add a closed connected interval to the daily uptime."""
    for day, seconds in split_by_day(start, end):
        stmt = insert(daily_station_stats).values(
            {c: 0 for c in _DAILY_COUNTERS} | {"station_id": station_id, "day": day, "uptime_s": seconds})
        await conn.execute(stmt.on_conflict_do_update(
            index_elements=["station_id", "day"], set_={"uptime_s": daily_station_stats.c.uptime_s + seconds}))


async def _add_connector_time(conn: AsyncConnection, key: tuple[str, int, int], column: str, start: datetime,
                              end: datetime) -> None:
    for day, seconds in split_by_day(start, end):
        stmt = insert(daily_connector_stats).values(
            {"station_id": key[0], "evse_id": key[1], "connector_id": key[2], "day": day, "occupied_s": 0,
             "charging_s": 0} | {column: seconds})
        await conn.execute(stmt.on_conflict_do_update(
            index_elements=["station_id", "evse_id", "connector_id", "day"],
            set_={column: daily_connector_stats.c[column] + seconds}))


async def record_event(conn: AsyncConnection, station_id: str, kind: str, at: datetime, **fields: Any) -> None:
    """Append a fleet-health event (STATUS_ERROR, NOTIFY_EVENT, SECURITY_EVENT, BOOT, AUTH_FAILED, ...)."""
    await conn.execute(sa.insert(station_events).values(station_id=station_id, kind=kind, at=at, **fields))


async def update_station(conn: AsyncConnection, station_id: str, **values: Any) -> None:
    """Upsert columns of the station's current state."""
    stmt = insert(station_state).values(station_id=station_id, **values)
    await conn.execute(stmt.on_conflict_do_update(index_elements=["station_id"], set_=values))


async def apply_status(conn: AsyncConnection, key: tuple[str, int, int], status: str, at: datetime,
                       *, v16: bool, **history: Any) -> None:
    """Record a connector status; close the occupied / charging interval it ends (unless it is out of order)."""
    station_id, evse_id, connector_id = key
    await conn.execute(sa.insert(status_history).values(
        station_id=station_id, evse_id=evse_id, connector_id=connector_id, status=status, at=at, **history))
    current = (await conn.execute(sa.select(connector_state).where(
        connector_state.c.station_id == station_id, connector_state.c.evse_id == evse_id,
        connector_state.c.connector_id == connector_id).with_for_update())).first()
    if current is not None and at < current.status_since:
        return  # a late, older status: history only
    charging = is_charging(status) if v16 else (current is not None and current.charging and is_occupied(status))
    if current is not None:
        if is_occupied(current.status) and current.status != status:
            await _add_connector_time(conn, key, "occupied_s", current.status_since, at)
        if current.charging and not charging and current.charging_since is not None:
            await _add_connector_time(conn, key, "charging_s", current.charging_since, at)
    changed = current is None or current.status != status
    was_charging = current is not None and current.charging
    values = {"status": status, "error_code": history.get("error_code"),
              "vendor_error_code": history.get("vendor_error_code"), "updated_at": at, "charging": charging,
              "status_since": at if changed else current.status_since,  # type: ignore[union-attr]
              "charging_since": (current.charging_since if was_charging and charging  # type: ignore[union-attr]
                                 else at if charging else None)}
    stmt = insert(connector_state).values(station_id=station_id, evse_id=evse_id, connector_id=connector_id, **values)
    await conn.execute(stmt.on_conflict_do_update(index_elements=["station_id", "evse_id", "connector_id"],
                                                  set_=values))


async def apply_charging(conn: AsyncConnection, key: tuple[str, int, int], charging: bool, at: datetime) -> None:
    """2.x: TransactionEvent chargingState started or ended a charging interval on a connector."""
    current = (await conn.execute(sa.select(connector_state).where(
        connector_state.c.station_id == key[0], connector_state.c.evse_id == key[1],
        connector_state.c.connector_id == key[2]).with_for_update())).first()
    if current is None:
        stmt = insert(connector_state).values(
            station_id=key[0], evse_id=key[1], connector_id=key[2], status="Occupied", status_since=at,
            charging=charging, charging_since=at if charging else None, updated_at=at)
        await conn.execute(stmt.on_conflict_do_nothing())
        return
    if current.charging == charging or (current.charging_since and at < current.charging_since):
        return
    if current.charging and current.charging_since is not None:
        await _add_connector_time(conn, key, "charging_s", current.charging_since, at)
    await conn.execute(sa.update(connector_state).where(
        connector_state.c.station_id == key[0], connector_state.c.evse_id == key[1],
        connector_state.c.connector_id == key[2]).values(
        charging=charging, charging_since=at if charging else None, updated_at=at))


async def open_connection(conn: AsyncConnection, station_id: str, connection_id: str, edge_id: str,
                          at: datetime) -> None:
    """A charger's socket opened at the edge."""
    await conn.execute(insert(connection_intervals).values(
        connection_id=connection_id, station_id=station_id, edge_id=edge_id, connected_at=at).on_conflict_do_nothing())
    await update_station(conn, station_id, connected=True, connected_since=at)


async def close_connection(conn: AsyncConnection, station_id: str, connection_id: str, at: datetime,
                           close_code: int | None, close_reason: str | None) -> None:
    """A charger's socket closed: add its uptime, count a disconnection, mark the station offline if no other."""
    closed = (await conn.execute(sa.update(connection_intervals).where(
        connection_intervals.c.connection_id == connection_id, connection_intervals.c.disconnected_at.is_(None),
    ).values(disconnected_at=at, close_code=close_code, close_reason=close_reason).returning(
        connection_intervals.c.connected_at))).first()
    if closed is not None:
        await add_uptime(conn, station_id, closed.connected_at, at)
    await add_daily(conn, station_id, at, disconnections=1)
    open_now = sa.select(sa.func.count()).select_from(connection_intervals).where(
        connection_intervals.c.station_id == station_id, connection_intervals.c.disconnected_at.is_(None))
    still_open = (await conn.execute(open_now)).scalar_one()
    if not still_open:
        await update_station(conn, station_id, connected=False, disconnected_at=at)

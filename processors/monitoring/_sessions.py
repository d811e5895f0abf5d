"""Charging sessions as monitoring sees them: started, stopped, failed, energy. Counted on the day they end."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from processors.monitoring._health import add_daily
from processors.monitoring.domain import FAILURE_STOP_REASONS
from processors.monitoring.store import sessions


async def start_session(conn: AsyncConnection, station_id: str, transaction_id: str, *, started_at: datetime | None,
                        evse_id: int | None, connector_id: int | None, id_tag: str | None,
                        auth_status: str | None, meter_start_wh: float | None) -> None:
    """Record a session start (idempotent; a session whose token was not Accepted is a failed session)."""
    values: dict[str, Any] = {"started_at": started_at, "evse_id": evse_id, "connector_id": connector_id,
                              "id_tag": id_tag, "auth_status": auth_status, "meter_start_wh": meter_start_wh}
    values = {k: v for k, v in values.items() if v is not None}
    failed = auth_status not in (None, "Accepted")
    stmt = insert(sessions).values(station_id=station_id, transaction_id=transaction_id, failed=failed, **values)
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=["station_id", "transaction_id"],
        set_={**values, "failed": sessions.c.failed | failed}))


def _energy(row: Any) -> float:
    if row.meter_start_wh is not None and row.meter_stop_wh is not None:
        return max(0.0, float(row.meter_stop_wh - row.meter_start_wh))
    if row.register_min_wh is not None and row.register_max_wh is not None:
        return max(0.0, float(row.register_max_wh - row.register_min_wh))
    return 0.0


async def stop_session(conn: AsyncConnection, station_id: str, transaction_id: str, *, stopped_at: datetime,
                       reason: str | None, meter_stop_wh: float | None) -> None:
    """Record a session end once (a repeated stop is a no-op) and count it, its energy and failure on its day."""
    await conn.execute(insert(sessions).values(station_id=station_id, transaction_id=transaction_id, failed=False)
                       .on_conflict_do_nothing())
    failed_by_reason = reason in FAILURE_STOP_REASONS
    row = (await conn.execute(
        sa.update(sessions).where(sessions.c.station_id == station_id, sessions.c.transaction_id == transaction_id,
                                  sessions.c.stopped_at.is_(None))
        .values(stopped_at=stopped_at, stop_reason=reason, failed=sessions.c.failed | failed_by_reason,
                meter_stop_wh=sa.func.coalesce(meter_stop_wh, sessions.c.meter_stop_wh))
        .returning(*sessions.c))).first()
    if row is None:
        return
    energy = _energy(row)
    await conn.execute(sa.update(sessions).where(
        sessions.c.station_id == station_id, sessions.c.transaction_id == transaction_id).values(energy_wh=energy))
    await add_daily(conn, station_id, stopped_at, sessions=1, failed_sessions=int(row.failed), energy_wh=energy)

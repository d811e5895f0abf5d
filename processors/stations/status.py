"""Set-based SQL for the hot live-state paths: liveness (online, last seen, heartbeat) and connector status.

Connector status: the batch's facts are walked in offset order against the stored statuses, so every change
(Available -> Preparing -> Charging in one batch) gives its own ConnectorStatusChanged event; then the history
is inserted and the final status per connector upserted in one statement each. A report older than the stored
one (a late, out-of-order frame) goes to the history but does not overwrite the live status.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from processors.runtime import UnitOfWork
from processors.stations.registry import emit_event
from processors.stations.translate import ConnectorStatusFact

_MARK_ONLINE = sa.text(
    """
    with x as (select * from unnest(cast(:ids as text[]), cast(:seen as timestamptz[]), cast(:hb as timestamptz[]))
               as t(id, seen, hb)),
    up as (
      update stations s set
        last_seen_at = greatest(s.last_seen_at, x.seen),
        last_heartbeat_at = greatest(s.last_heartbeat_at, x.hb),
        online = s.online or s.connectivity_at is null or x.seen > s.connectivity_at,
        connectivity_at = case when not s.online and (s.connectivity_at is null or x.seen > s.connectivity_at)
                               then x.seen else s.connectivity_at end
      from x where s.id = x.id
      returning s.id, s.online, s.connectivity_at, x.seen
    ),
    prev as (select s.id, s.online from stations s join x on s.id = x.id)
    select up.id, up.seen from up join prev on prev.id = up.id where up.online and not prev.online
    """
)


async def mark_online(uow: UnitOfWork, seen: dict[str, datetime], heartbeats: dict[str, datetime]) -> None:
    """Record when each station was last seen / sent a heartbeat; emit StationWentOnline for those back online."""
    ids = sorted(seen.keys() | heartbeats.keys())
    last = [max(t for t in (seen.get(i), heartbeats.get(i)) if t is not None) for i in ids]
    result = await uow.conn.execute(_MARK_ONLINE, {"ids": ids, "seen": last, "hb": [heartbeats.get(i) for i in ids]})
    for row in result:
        await record_connectivity(uow, row.id, None, "ONLINE", "MESSAGE", row.seen)
        emit_event(uow, "StationWentOnline", row.id, {"reason": "MESSAGE", "at": row.seen})


async def record_connectivity(uow: UnitOfWork, station_id: str, source_id: str | None, status: str, reason: str,
                              at: datetime) -> None:
    """One CONNECTIVITY row in the station status history (`source_id` defaults to station and time)."""
    await uow.conn.execute(sa.text(
        "insert into station_status_history (source_id, station_id, kind, previous_status, status, reason, at) "
        "values (:source, :station, 'CONNECTIVITY', :previous, :status, :reason, :at) on conflict do nothing"),
        {"source": source_id or f"{station_id}@{at.isoformat()}", "station": station_id, "status": status,
         "previous": "OFFLINE" if status == "ONLINE" else "ONLINE", "reason": reason, "at": at})


_CURRENT = sa.text(
    """
    select s.id as station_id, c.evse_id, c.connector_id, c.status, c.status_received_at
    from stations s left join connectors c on c.station_id = s.id
    where s.id = any(cast(:ids as text[]))
    """
)
_HISTORY = sa.text(
    """
    insert into connector_status_history (source_event_id, item, station_id, evse_id, connector_id, status,
                                          raw_status, error_code, charger_timestamp, received_at)
    select * from unnest(cast(:event as text[]), cast(:item as int[]), cast(:station as text[]),
                         cast(:evse as int[]), cast(:conn as int[]), cast(:status as text[]), cast(:raw as text[]),
                         cast(:error as text[]), cast(:ts as timestamptz[]), cast(:received as timestamptz[]))
    on conflict do nothing
    """
)
_UPSERT = sa.text(
    """
    insert into connectors (station_id, evse_id, connector_id, status, error_code, status_at, status_received_at)
    select * from unnest(cast(:station as text[]), cast(:evse as int[]), cast(:conn as int[]),
                         cast(:status as text[]), cast(:error as text[]), cast(:ts as timestamptz[]),
                         cast(:received as timestamptz[]))
    on conflict (station_id, evse_id, connector_id) do update set
      status = excluded.status, error_code = excluded.error_code, status_at = excluded.status_at,
      status_received_at = excluded.status_received_at
    where connectors.status_received_at is null or connectors.status_received_at <= excluded.status_received_at
    """
)

Key = tuple[str, int, int]


async def apply_statuses(uow: UnitOfWork, facts: Sequence[ConnectorStatusFact]) -> None:
    """History, live status and ConnectorStatusChanged events for a batch of status facts."""
    ids = sorted({f.station_id for f in facts})
    known: set[str] = set()
    current: dict[Key, tuple[str | None, datetime | None]] = {}
    for row in await uow.conn.execute(_CURRENT, {"ids": ids}):
        known.add(row.station_id)
        if row.evse_id is not None:
            current[(row.station_id, row.evse_id, row.connector_id)] = (row.status, row.status_received_at)
    facts = [f for f in facts if f.station_id in known]
    if not facts:
        return
    await uow.conn.execute(_HISTORY, _columns(facts, history=True))
    final: dict[Key, ConnectorStatusFact] = {}
    for fact in facts:
        if fact.evse_id == 0:  # 1.6 connectorId 0: the charge point itself; history only
            continue
        key = (fact.station_id, fact.evse_id, fact.connector_id)
        status, received = current.get(key, (None, None))
        if received is not None and fact.received_at < received:
            continue
        if fact.status != status:
            emit_event(uow, "ConnectorStatusChanged", fact.station_id, {
                "evse_id": fact.evse_id, "connector_id": fact.connector_id, "status": fact.status,
                "previous_status": status, "error_code": fact.error_code,
                "charger_timestamp": fact.charger_timestamp, "received_at": fact.received_at})
        current[key] = (fact.status, fact.received_at)
        final[key] = fact
    if final:
        await uow.conn.execute(_UPSERT, _columns(list(final.values()), history=False))


def _columns(facts: Sequence[ConnectorStatusFact], *, history: bool) -> dict[str, list[object]]:
    cols: dict[str, list[object]] = {
        "station": [f.station_id for f in facts], "evse": [f.evse_id for f in facts],
        "conn": [f.connector_id for f in facts], "status": [f.status for f in facts],
        "error": [f.error_code for f in facts], "ts": [f.charger_timestamp for f in facts],
        "received": [f.received_at for f in facts],
    }
    if history:
        cols |= {"event": [f.source_event_id for f in facts], "item": [f.item for f in facts],
                 "raw": [f.raw_status for f in facts]}
    return cols

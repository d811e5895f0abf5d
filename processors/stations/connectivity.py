"""Online/offline: connection events from the edge, and the offline watch for stations that went silent.

A station is online from its CONNECTED event (or any frame it sends while offline, see status.mark_online) and
offline from its DISCONNECTED event or when the offline watch finds no frame from it for
`heartbeat_interval_s * offline_missed_heartbeats + offline_grace_s`. Connection events and frames arrive on
different topics, so each transition is applied only if it is newer than the last one (`connectivity_at`): the
late DISCONNECTED of an old socket never takes a reconnected station offline.

The watch is time-driven (no input event), so it runs beside the consumer in the processor's process
(`run_offline_watch`, started by `__main__`) and writes like a handler: one transaction per round holding the
rows it changes, their history and the StationWentOffline events in the outbox. Its effects are not a function
of the logs, so a replay rebuilds everything except the offline flags it set (the next round sets them again).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.logs import get_logger
from processors.runtime import Event, UnitOfWork, is_transient
from processors.runtime import store as runtime_store
from processors.runtime.uow import BatchUnitOfWork
from processors.stations.registry import emit_event
from processors.stations.status import record_connectivity
from processors.stations.store import station_connections, stations
from schemas import AvroCodec, TopicCatalog

log = get_logger(__name__)

_CONNECTED = sa.text(
    """
    update stations set online = true, connectivity_at = :at, last_seen_at = greatest(last_seen_at, :at),
                        ocpp_version = coalesce(:version, ocpp_version)
    where id = :id and not online and (connectivity_at is null or connectivity_at < :at)
    returning id
    """
)
_DISCONNECTED = sa.text(
    """
    update stations set online = false, connectivity_at = :at
    where id = :id and online and (connectivity_at is null or connectivity_at <= :at)
    returning last_seen_at
    """
)


_REMEMBER = sa.text(
    """
    insert into station_connections (station_id, connected_at, disconnected_at, ocpp_version)
    values (:id, :connected, :disconnected, :version)
    on conflict (station_id) do update set
      connected_at = greatest(station_connections.connected_at, excluded.connected_at),
      disconnected_at = greatest(station_connections.disconnected_at, excluded.disconnected_at),
      ocpp_version = coalesce(excluded.ocpp_version, station_connections.ocpp_version)
    """
)


async def apply_connection(event: Event, uow: UnitOfWork) -> None:
    """Handler for `csms.ocpp.ConnectionEvent` (CONNECTED / DISCONNECTED; REFUSED changes nothing)."""
    v = event.value
    if v is None or v["kind"] not in ("CONNECTED", "DISCONNECTED"):
        return
    station, at, kind = v["station_id"], v["at"], v["kind"]
    await uow.conn.execute(_REMEMBER, {
        "id": station, "connected": at if kind == "CONNECTED" else None,
        "disconnected": at if kind == "DISCONNECTED" else None, "version": v.get("ocpp_version")})
    if kind == "CONNECTED":
        changed = await uow.conn.execute(_CONNECTED, {"id": station, "at": at, "version": v.get("ocpp_version")})
        if changed.one_or_none() is not None:
            await record_connectivity(uow, station, event.event_id, "ONLINE", "CONNECTED", at)
            emit_event(uow, "StationWentOnline", station,
                       {"reason": "CONNECTED", "ocpp_version": v.get("ocpp_version"), "at": at})
    elif kind == "DISCONNECTED":
        row = (await uow.conn.execute(_DISCONNECTED, {"id": station, "at": at})).one_or_none()
        if row is not None:
            await record_connectivity(uow, station, event.event_id, "OFFLINE", "DISCONNECTED", at)
            emit_event(uow, "StationWentOffline", station,
                       {"reason": "DISCONNECTED", "last_seen_at": row.last_seen_at, "at": at})


async def start_connectivity(uow: UnitOfWork, station_id: str) -> None:
    """Set a just-created station's online state from the connection events seen before it existed."""
    row = (await uow.conn.execute(
        sa.select(station_connections).where(station_connections.c.station_id == station_id))).one_or_none()
    if row is None or row.connected_at is None:
        if row is not None and row.disconnected_at is not None:
            await uow.conn.execute(sa.update(stations).where(stations.c.id == station_id).values(
                connectivity_at=row.disconnected_at))
        return
    if row.disconnected_at is not None and row.disconnected_at >= row.connected_at:
        await uow.conn.execute(sa.update(stations).where(stations.c.id == station_id).values(
            connectivity_at=row.disconnected_at))
        return
    await uow.conn.execute(sa.update(stations).where(stations.c.id == station_id).values(
        online=True, connectivity_at=row.connected_at,
        last_seen_at=sa.func.greatest(stations.c.last_seen_at, row.connected_at)))
    await record_connectivity(uow, station_id, None, "ONLINE", "CONNECTED", row.connected_at)
    emit_event(uow, "StationWentOnline", station_id,
               {"reason": "CONNECTED", "ocpp_version": row.ocpp_version, "at": row.connected_at})


_SILENT = sa.text(
    """
    update stations set online = false, connectivity_at = cast(:now as timestamptz)
    where online and coalesce(last_seen_at, connectivity_at) < cast(:now as timestamptz)
          - make_interval(secs => heartbeat_interval_s * cast(:missed as integer) + cast(:grace as float8))
    returning id, last_seen_at
    """
)


async def take_silent_offline(uow: UnitOfWork, now: datetime, missed: int, grace_s: float) -> list[str]:
    """Mark online stations silent for too long offline (history + StationWentOffline); return their ids."""
    result = await uow.conn.execute(_SILENT, {"now": now, "missed": missed, "grace": grace_s})
    gone = []
    for row in result:
        await record_connectivity(uow, row.id, f"watch:{uuid.uuid4()}", "OFFLINE", "MISSED_HEARTBEATS", now)
        emit_event(uow, "StationWentOffline", row.id,
                   {"reason": "MISSED_HEARTBEATS", "last_seen_at": row.last_seen_at, "at": now})
        gone.append(row.id)
    return gone


async def offline_round(engine: AsyncEngine, codec: AvroCodec, topics: TopicCatalog, *, missed: int,
                        grace_s: float, now: datetime | None = None) -> list[str]:
    """One round of the offline watch in its own transaction (effects and outbox rows together)."""
    async with engine.begin() as conn:
        uow = BatchUnitOfWork(conn, codec, topics)
        gone = await take_silent_offline(uow, now or datetime.now(UTC), missed, grace_s)
        await runtime_store.add_outbox(conn, uow.take())
    return gone


async def run_offline_watch(engine: AsyncEngine, codec: AvroCodec, topics: TopicCatalog, stop: asyncio.Event, *,
                            interval_s: float, missed: int, grace_s: float) -> None:
    """Run `offline_round` every `interval_s` until `stop`; transient database errors are retried next round."""
    while not stop.is_set():
        try:
            gone = await offline_round(engine, codec, topics, missed=missed, grace_s=grace_s)
            if gone:
                log.info("stations went offline (missed heartbeats)", count=len(gone))
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("offline watch failed, retrying next round", error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)

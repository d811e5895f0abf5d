"""Which location each station is at, from the compacted `stations.registry` topic (the stations processor
owns it): location permissions and local lists need it, and no process reads another domain's store."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from processors.authorization.local_lists import refresh_local_lists
from processors.authorization.store import local_auth_lists, station_sites
from processors.runtime import Event, UnitOfWork


async def apply_registry_entry(event: Event, uow: UnitOfWork) -> None:
    """Keep the station's location (newer versions only); a tombstone forgets the station and its list."""
    if event.value is None:
        if event.key:
            await uow.conn.execute(sa.delete(station_sites).where(station_sites.c.station_id == event.key))
            await uow.conn.execute(sa.delete(local_auth_lists).where(local_auth_lists.c.station_id == event.key))
        return
    v = event.value
    stmt = insert(station_sites).values(station_id=v["station_id"], location_id=v.get("location_id"),
                                        registry_version=v["version"])
    changed = await uow.conn.execute(stmt.on_conflict_do_update(
        index_elements=["station_id"],
        set_={"location_id": stmt.excluded.location_id, "registry_version": stmt.excluded.registry_version},
        where=station_sites.c.registry_version < stmt.excluded.registry_version,
    ).returning(station_sites.c.station_id))
    if changed.one_or_none() is not None:
        await refresh_local_lists(uow, v["updated_at"], v["station_id"])

"""Publishing a station's state: the compacted `stations.registry` entry (with its registered connectors, which
billing's connector-type tariffs need) and the `stations.events` domain events.

Both leave through the outbox in the transaction that changed the row, so the edge never sees a state the store
does not have. `registry_version` is bumped in the same UPDATE, so versions on the topic are strictly increasing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from processors.runtime import UnitOfWork
from processors.stations.store import connectors, stations

REGISTRY_TOPIC = "stations.registry"
REGISTRY_SCHEMA = "csms.stations.StationRegistryEntry"
EVENTS_TOPIC = "stations.events"
# the columns whose change the edge must see
REGISTRY_COLUMNS = ("status", "heartbeat_interval_s", "security_profile", "password_hash", "operator_id",
                    "location_id", "allowed_ocpp_versions")


async def publish_registry(uow: UnitOfWork, station_id: str, at: datetime) -> int:
    """Bump the station's registry version and emit its `stations.registry` entry; return the new version."""
    result = await uow.conn.execute(
        sa.update(stations)
        .where(stations.c.id == station_id)
        .values(registry_version=stations.c.registry_version + 1)
        .returning(stations.c.registry_version, *(stations.c[name] for name in REGISTRY_COLUMNS))
    )
    row = result.one()
    plugs = await uow.conn.execute(
        sa.select(connectors.c.evse_id, connectors.c.connector_id, connectors.c.connector_type)
        .where(connectors.c.station_id == station_id).order_by(connectors.c.evse_id, connectors.c.connector_id))
    uow.emit(REGISTRY_TOPIC, station_id, REGISTRY_SCHEMA, {
        "station_id": station_id,
        "status": row.status,
        "heartbeat_interval_s": row.heartbeat_interval_s,
        "security_profile": row.security_profile,
        "password_hash": row.password_hash,
        "operator_id": row.operator_id,
        "location_id": row.location_id,
        "allowed_ocpp_versions": list(row.allowed_ocpp_versions),
        "connectors": [{"evse_id": c.evse_id, "connector_id": c.connector_id, "connector_type": c.connector_type}
                       for c in plugs],
        "version": row.registry_version,
        "updated_at": at,
    })
    return int(row.registry_version)


def emit_event(uow: UnitOfWork, event_type: str, station_id: str, value: Mapping[str, Any]) -> str:
    """Queue a stations domain event (`csms.stations.<event_type>`) on `stations.events`, keyed by station."""
    return uow.emit(EVENTS_TOPIC, station_id, f"csms.stations.{event_type}", {"station_id": station_id, **value})

"""Read-only queries over the stations store, for read_api. Every function takes an `AsyncConnection`.

Lists are keyset-paginated on the id (`after` = the previous page's `next_cursor`); history lists page backwards
in time with an opaque `before` cursor. The password hash never leaves the store through these functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from processors.stations.store import (
    connector_status_history,
    connectors,
    evses,
    locations,
    station_configuration,
    station_status_history,
    stations,
)

T = TypeVar("T")
EARTH_RADIUS_M = 6_371_000.0
MAX_LIMIT = 500


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class StationSummary:
    id: str
    name: str | None
    status: str
    operator_id: str | None
    location_id: str | None
    latitude: Decimal | None
    longitude: Decimal | None
    address: str | None
    online: bool
    last_seen_at: datetime | None
    ocpp_version: str | None
    connector_types: list[str]
    connectors_available: int
    distance_m: float | None = None


@dataclass(frozen=True)
class Connector:
    evse_id: int
    connector_id: int
    connector_type: str | None
    max_power_w: int | None
    status: str | None
    error_code: str | None
    status_at: datetime | None
    status_received_at: datetime | None


@dataclass(frozen=True)
class Evse:
    evse_id: int
    max_power_w: int | None
    connectors: list[Connector] = field(default_factory=list)


@dataclass(frozen=True)
class StationDetail:
    id: str
    name: str | None
    status: str
    registered_via: str
    operator_id: str | None
    location_id: str | None
    latitude: Decimal | None
    longitude: Decimal | None
    address: str | None
    security_profile: int
    has_password: bool
    heartbeat_interval_s: int
    allowed_ocpp_versions: list[str]
    ocpp_version: str | None
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    online: bool
    last_seen_at: datetime | None
    last_heartbeat_at: datetime | None
    last_boot_at: datetime | None
    registry_version: int
    created_at: datetime
    updated_at: datetime
    evses: list[Evse]


@dataclass(frozen=True)
class StatusChange:
    at: datetime
    kind: str  # REGISTRATION, CONNECTIVITY or CONNECTOR
    status: str
    previous_status: str | None = None
    reason: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    error_code: str | None = None
    charger_timestamp: datetime | None = None


@dataclass(frozen=True)
class ConfigEntry:
    key: str
    component: str
    variable: str
    attribute_type: str
    value: str | None
    readonly: bool | None
    source: str
    reported_at: datetime
    component_instance: str | None = None
    variable_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None


@dataclass(frozen=True)
class Location:
    id: str
    name: str
    operator_id: str | None
    address: str | None
    city: str | None
    postal_code: str | None
    country: str | None
    latitude: Decimal | None
    longitude: Decimal | None
    station_count: int


def _limit(limit: int) -> int:
    return max(1, min(limit, MAX_LIMIT))


def _haversine(lat: Any, lon: Any, at_lat: float, at_lon: float) -> Any:
    """Great-circle distance in metres between a row's coordinates and a point (SQL expression)."""
    dlat = sa.func.radians(lat - at_lat) / 2
    dlon = sa.func.radians(lon - at_lon) / 2
    a = sa.func.power(sa.func.sin(dlat), 2) + sa.func.cos(sa.func.radians(at_lat)) * sa.func.cos(
        sa.func.radians(lat)) * sa.func.power(sa.func.sin(dlon), 2)
    return 2 * EARTH_RADIUS_M * sa.func.asin(sa.func.sqrt(a))


async def list_stations(
    conn: AsyncConnection,
    *,
    status: str | None = None,
    operator_id: str | None = None,
    location_id: str | None = None,
    connector_type: str | None = None,
    online: bool | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    near: tuple[float, float, float] | None = None,
    search: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> Page[StationSummary]:
    """Stations filtered by status, operator, location, connector type, online, bounding box
    (min_lat, min_lon, max_lat, max_lon), radius (lat, lon, metres) and a text search on id/name/address;
    ordered by id. A station without its own coordinates uses its location's."""
    lat = sa.func.coalesce(stations.c.latitude, locations.c.latitude)
    lon = sa.func.coalesce(stations.c.longitude, locations.c.longitude)
    types = sa.select(sa.func.coalesce(sa.func.array_agg(sa.distinct(connectors.c.connector_type)).filter(
        connectors.c.connector_type.is_not(None)), sa.text("'{}'::text[]"))).where(
        connectors.c.station_id == stations.c.id).scalar_subquery()
    available = sa.select(sa.func.count()).where(
        connectors.c.station_id == stations.c.id, connectors.c.status == "Available").scalar_subquery()
    distance = _haversine(lat, lon, near[0], near[1]) if near else sa.null()
    query = sa.select(stations, lat.label("lat"), lon.label("lon"), types.label("types"),
                      available.label("available"), distance.label("distance")).select_from(
        stations.outerjoin(locations, locations.c.id == stations.c.location_id))
    conditions: list[Any] = []
    if status:
        conditions.append(stations.c.status == status)
    if operator_id:
        conditions.append(stations.c.operator_id == operator_id)
    if location_id:
        conditions.append(stations.c.location_id == location_id)
    if online is not None:
        conditions.append(stations.c.online.is_(online))
    if connector_type:
        conditions.append(sa.exists().where(connectors.c.station_id == stations.c.id,
                                            connectors.c.connector_type == connector_type))
    if bbox:
        conditions += [lat.between(bbox[0], bbox[2]), lon.between(bbox[1], bbox[3])]
    if near:
        conditions.append(distance <= near[2])
    if search:
        conditions.append(sa.or_(stations.c.id.icontains(search, autoescape=True),
                                 stations.c.name.icontains(search, autoescape=True),
                                 stations.c.address.icontains(search, autoescape=True)))
    if after:
        conditions.append(stations.c.id > after)
    n = _limit(limit)
    rows = (await conn.execute(query.where(*conditions).order_by(stations.c.id).limit(n + 1))).all()
    items = [StationSummary(
        id=r.id, name=r.name, status=r.status, operator_id=r.operator_id, location_id=r.location_id,
        latitude=r.lat, longitude=r.lon, address=r.address, online=r.online, last_seen_at=r.last_seen_at,
        ocpp_version=r.ocpp_version, connector_types=sorted(r.types), connectors_available=r.available,
        distance_m=None if r.distance is None else float(r.distance)) for r in rows[:n]]
    return Page(items, items[-1].id if len(rows) > n else None)


async def get_station(conn: AsyncConnection, station_id: str) -> StationDetail | None:
    """One station with its EVSEs, connectors and their live status."""
    row = (await conn.execute(sa.select(stations).where(stations.c.id == station_id))).one_or_none()
    if row is None:
        return None
    evse_rows = (await conn.execute(sa.select(evses).where(evses.c.station_id == station_id))).all()
    by_evse = {e.evse_id: Evse(e.evse_id, e.max_power_w) for e in evse_rows}
    connector_rows = (await conn.execute(sa.select(connectors).where(connectors.c.station_id == station_id)
                                         .order_by(connectors.c.evse_id, connectors.c.connector_id))).all()
    for c in connector_rows:
        evse = by_evse.setdefault(c.evse_id, Evse(c.evse_id, None))
        evse.connectors.append(Connector(c.evse_id, c.connector_id, c.connector_type, c.max_power_w, c.status,
                                         c.error_code, c.status_at, c.status_received_at))
    data = {k: v for k, v in row._mapping.items() if k not in ("password_hash", "connectivity_at")}
    data["allowed_ocpp_versions"] = list(data["allowed_ocpp_versions"])
    return StationDetail(**data, has_password=row.password_hash is not None,
                         evses=[by_evse[k] for k in sorted(by_evse)])


def _cursor(at: datetime, tie: str) -> str:
    return f"{at.isoformat()}|{tie}"


def _parse_cursor(cursor: str) -> tuple[datetime, str]:
    at, _, tie = cursor.partition("|")
    return datetime.fromisoformat(at), tie


async def connector_history(
    conn: AsyncConnection, station_id: str, *, evse_id: int | None = None, connector_id: int | None = None,
    before: str | None = None, limit: int = 100,
) -> Page[StatusChange]:
    """Connector status reports of a station, newest first (all of them, including repeated statuses)."""
    h = connector_status_history
    tie = sa.func.concat(h.c.source_event_id, "/", h.c.item)
    conditions: list[Any] = [h.c.station_id == station_id]
    if evse_id is not None:
        conditions.append(h.c.evse_id == evse_id)
    if connector_id is not None:
        conditions.append(h.c.connector_id == connector_id)
    if before:
        at, key = _parse_cursor(before)
        conditions.append(sa.tuple_(h.c.received_at, tie) < sa.tuple_(sa.literal(at), sa.literal(key)))
    n = _limit(limit)
    rows = (await conn.execute(sa.select(h, tie.label("tie")).where(*conditions)
                               .order_by(h.c.received_at.desc(), tie.desc()).limit(n + 1))).all()
    items = [StatusChange(at=r.received_at, kind="CONNECTOR", status=r.status, evse_id=r.evse_id,
                          connector_id=r.connector_id, error_code=r.error_code,
                          charger_timestamp=r.charger_timestamp) for r in rows[:n]]
    next_cursor = _cursor(rows[n - 1].received_at, rows[n - 1].tie) if len(rows) > n else None
    return Page(items, next_cursor)


async def station_history(
    conn: AsyncConnection, station_id: str, *, kind: str | None = None, before: str | None = None, limit: int = 100,
) -> Page[StatusChange]:
    """Registration and connectivity changes of a station, newest first (`kind` REGISTRATION / CONNECTIVITY)."""
    h = station_status_history
    tie = sa.func.concat(h.c.kind, "/", h.c.source_id)
    conditions: list[Any] = [h.c.station_id == station_id]
    if kind:
        conditions.append(h.c.kind == kind)
    if before:
        at, key = _parse_cursor(before)
        conditions.append(sa.tuple_(h.c.at, tie) < sa.tuple_(sa.literal(at), sa.literal(key)))
    n = _limit(limit)
    rows = (await conn.execute(sa.select(h, tie.label("tie")).where(*conditions)
                               .order_by(h.c.at.desc(), tie.desc()).limit(n + 1))).all()
    items = [StatusChange(at=r.at, kind=r.kind, status=r.status, previous_status=r.previous_status,
                          reason=r.reason) for r in rows[:n]]
    return Page(items, _cursor(rows[n - 1].at, rows[n - 1].tie) if len(rows) > n else None)


async def station_configuration_of(conn: AsyncConnection, station_id: str) -> list[ConfigEntry]:
    """The configuration keys (1.6) and device-model variables (2.x) a station last reported, by key."""
    c = station_configuration
    rows = (await conn.execute(sa.select(c).where(c.c.station_id == station_id).order_by(c.c.key))).all()
    return [ConfigEntry(**{k: v for k, v in r._mapping.items() if k != "station_id"}) for r in rows]


async def list_locations(conn: AsyncConnection, *, operator_id: str | None = None, after: str | None = None,
                         limit: int = 50) -> Page[Location]:
    """Locations (with their number of stations), ordered by id."""
    count = sa.select(sa.func.count()).where(stations.c.location_id == locations.c.id).scalar_subquery()
    conditions: list[Any] = []
    if operator_id:
        conditions.append(locations.c.operator_id == operator_id)
    if after:
        conditions.append(locations.c.id > after)
    n = _limit(limit)
    rows = (await conn.execute(sa.select(locations, count.label("station_count")).where(*conditions)
                               .order_by(locations.c.id).limit(n + 1))).all()
    items = [Location(r.id, r.name, r.operator_id, r.address, r.city, r.postal_code, r.country, r.latitude,
                      r.longitude, r.station_count) for r in rows[:n]]
    return Page(items, items[-1].id if len(rows) > n else None)

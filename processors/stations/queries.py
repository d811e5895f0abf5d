"""Read-only queries over the stations store, for read_api. Every function takes an `AsyncConnection`.

Lists are keyset-paginated on the id (`after` = the previous page's `next_cursor`); history lists page backwards
in time with an opaque `before` cursor. The password hash never leaves the store through these functions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

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


@dataclass  # not frozen: a list page builds 50 of them, and a frozen __init__ costs ~6 µs each (setattr per field)
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


# the columns are named and ordered as the API's JSON summary; coordinates as text (the exact numeric, no Decimal)
_SUMMARY_SQL = """
select s.id, s.name, s.status, s.operator_id, s.location_id, ({lat})::text as latitude,
       ({lon})::text as longitude, s.address, s.online, s.last_seen_at, s.ocpp_version, c.types as connector_types,
       c.available as connectors_available, {distance} as distance_m
from stations s
left join locations l on l.id = s.location_id
cross join lateral (
    select array_agg(x.connector_type) filter (where x.connector_type is not null) as types,
           count(*) filter (where x.status = 'Available')::int as available
    from connectors x where x.station_id = s.id) c
where {where}
order by s.id
limit {limit}"""
_LAT = "coalesce(s.latitude, l.latitude)"
_LON = "coalesce(s.longitude, l.longitude)"
# great-circle distance in metres between a row's coordinates and ($lat, $lon); {lat}/{lon}: parameter numbers
_HAVERSINE = (f"2 * {EARTH_RADIUS_M} * asin(sqrt(power(sin(radians({_LAT} - ${{lat}}::float8) / 2), 2)"
              f" + cos(radians(${{lat}}::float8)) * cos(radians({_LAT}))"
              f" * power(sin(radians({_LON} - ${{lon}}::float8) / 2), 2)))")
# one condition per filter, in this order; `{}` are the parameters' numbers
_FILTERS: dict[str, str] = {
    "status": "s.status = ${}",
    "operator_id": "s.operator_id = ${}",
    "location_id": "s.location_id = ${}",
    "online": "s.online = ${}",
    "connector_type": "exists (select from connectors t where t.station_id = s.id and t.connector_type = ${})",
    "bbox": f"{_LAT} between ${{}}::float8 and ${{}}::float8 and {_LON} between ${{}}::float8 and ${{}}::float8",
    "search": "(s.id ilike ${0} escape '/' or s.name ilike ${0} escape '/' or s.address ilike ${0} escape '/')",
    "after": "s.id > ${}",
}


@functools.lru_cache(maxsize=256)
def _summary_sql(present: frozenset[str], near: bool, limit: int) -> str:
    """The list statement for one combination of filters and page size (a handful in practice: cached, and asyncpg
    keeps one prepared statement per text and connection). The limit is written into the text, not bound: with
    `limit $n` PostgreSQL cannot cost a generic plan and re-plans every execution (~0.2 ms of its CPU)."""
    where: list[str] = []
    n = 0
    distance = "null::float8"
    if near:
        distance = _HAVERSINE.format(lat=1, lon=2)
        where.append(f"{distance} <= $3::float8")
        n = 3
    for name, template in _FILTERS.items():
        if name not in present:
            continue
        if name == "bbox":
            where.append(template.format(n + 1, n + 3, n + 2, n + 4))  # (min_lat, min_lon, max_lat, max_lon)
            n += 4
        else:
            n += 1
            where.append(template.format(n))
    return _SUMMARY_SQL.format(lat=_LAT, lon=_LON, distance=distance, where=" and ".join(where) or "true",
                               limit=int(limit))


def _like(text: str) -> str:
    """An ILIKE pattern matching `text` anywhere, with `/` as the escape character."""
    return "%" + text.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


class Fetcher(Protocol):
    """What the station list needs of a connection: asyncpg's `fetch` (an asyncpg connection or pool proxy)."""

    async def fetch(self, query: str, *args: Any) -> list[Any]: ...


async def station_page(
    driver: Fetcher,
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
) -> Page[dict[str, Any]]:
    """Stations filtered by status, operator, location, connector type, online, bounding box
    (min_lat, min_lon, max_lat, max_lon), radius (lat, lon, metres) and a text search on id/name/address;
    ordered by id. A station without its own coordinates uses its location's. Each item is a JSON-ready dict with
    the fields of `StationSummary`, in its order (coordinates as the exact numeric's text).

    The hottest read of the API (the fleet list): one prepared statement per page on an asyncpg connection
    (connector types and the available count aggregated per station in a lateral sub-select over the connectors'
    primary key; types are de-duplicated here, which is cheaper than a DISTINCT aggregate's sort per station), no
    SQL built or compiled per call (SQLAlchemy's statement building, compilation and row processing cost ~10x the
    statement's own execution here), and rows become plain dicts (no per-row object or Decimal to serialise)."""
    given: dict[str, Any] = {
        "status": status or None, "operator_id": operator_id or None, "location_id": location_id or None,
        "online": online, "connector_type": connector_type or None, "bbox": bbox or None,
        "search": _like(search) if search else None, "after": after or None}
    args: list[Any] = list(near) if near else []
    for name in _FILTERS:
        value = given[name]
        if value is not None:
            args.extend(value if name == "bbox" else (value,))
    n = _limit(limit)
    sql = _summary_sql(frozenset(k for k, v in given.items() if v is not None), near is not None, n + 1)
    rows = await driver.fetch(sql, *args)
    items = []
    for row in rows[:n]:
        item = dict(row.items())
        types = item["connector_types"]
        item["connector_types"] = sorted(set(types)) if types else []
        items.append(item)
    return Page(items, items[-1]["id"] if len(rows) > n else None)


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
    """`station_page` on a SQLAlchemy connection, as `StationSummary` objects (coordinates as Decimal)."""
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    found = await station_page(driver, status=status, operator_id=operator_id, location_id=location_id,
                               connector_type=connector_type, online=online, bbox=bbox, near=near, search=search,
                               after=after, limit=limit)
    items = [StationSummary(**{**item, "latitude": _decimal(item["latitude"]),
                               "longitude": _decimal(item["longitude"])}) for item in found.items]
    return Page(items, found.next_cursor)


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


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

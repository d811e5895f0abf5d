"""Rows the domain processors would have written, put straight into the test's domain stores."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tests.read_api_env import ApiEnv

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


async def station(api: ApiEnv, station_id: str, *, status: str = "ACCEPTED", lat: float | None = None,
                  lon: float | None = None, operator: str = "OP-1", connector_type: str = "CCS2",
                  version: str | None = "ocpp1.6") -> None:
    await api.sql("stations", """insert into stations (id, name, operator_id, latitude, longitude, status,
        registered_via, ocpp_version, online, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, 'COMMAND',
        $7, true, $8, $8)""", station_id, f"Station {station_id}", operator, lat, lon, status, version, T0)
    await api.sql("stations", "insert into evses (station_id, evse_id) values ($1, 1)", station_id)
    await api.sql("stations", """insert into connectors (station_id, evse_id, connector_id, connector_type, status)
        values ($1, 1, 1, $2, 'Available')""", station_id, connector_type)


async def token(api: ApiEnv, id_token: str, driver_id: str | None, status: str = "ACTIVE") -> str:
    key = f"ISO14443:{id_token}"
    await api.sql("drivers", """insert into id_tokens (token_key, id_token, token_type, status, driver_id,
        allow_concurrent_sessions, version, created_at, updated_at) values ($1, $2, 'ISO14443', $3, $4, false, 1,
        $5, $5)""", key, id_token, status, driver_id, T0)
    return key


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def driver(api: ApiEnv, driver_id: str) -> None:
    await api.sql("drivers", """insert into drivers (id, name, email, membership_level, status, version, created_at,
        updated_at) values ($1, $1, $1 || '@example.org', 'BASIC', 'ACTIVE', 1, $2, $2)""", driver_id, T0)

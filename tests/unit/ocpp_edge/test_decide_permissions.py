"""Token permissions the edge enforces from auth.tokens: stations, locations and charging hours."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from ocpp_edge.decide import ConnectionContext, Decider, within_hours
from ocpp_edge.state import EdgeState


class _NoIds:
    async def next_id(self) -> int:
        raise AssertionError("not used")


def decider(token: dict) -> Decider:
    state = EdgeState()
    state.apply("stations.registry", "CP-1", {"station_id": "CP-1", "status": "ACCEPTED", "location_id": "LOC-A"})
    state.apply("auth.tokens", "ISO14443:T1", {"id_token": "T1", "token_type": "ISO14443", "status": "ACTIVE",
                                                "expires_at": None, "group_id": None, **token})
    return Decider(state, _NoIds(), unknown_stations="pending", heartbeat_interval=300, pending_interval=60)


@pytest.mark.parametrize(("token", "v16", "v2"), [
    ({}, "Accepted", "Accepted"),
    ({"allowed_station_ids": ["CP-9"]}, "Invalid", "NotAtThisLocation"),
    ({"allowed_location_ids": ["LOC-B"]}, "Invalid", "NotAtThisLocation"),
    ({"allowed_location_ids": ["LOC-A"]}, "Accepted", "Accepted"),
    ({"allowed_hours_json": orjson.dumps([{"days": [1, 2, 3, 4, 5, 6, 7], "start": "00:00",
                                           "end": "23:59:59.999999"}]).decode()}, "Accepted", "Accepted"),
])
def test_permissions(token, v16, v2):
    d = decider(token)
    assert d.token_status(ConnectionContext("CP-1", "ocpp1.6"), "T1", None)[0] == v16
    assert d.token_status(ConnectionContext("CP-1", "ocpp2.0.1"), "T1", "ISO14443")[0] == v2


def test_outside_the_charging_hours_is_not_at_this_time():
    now = datetime.now(UTC)
    other_day = now.isoweekday() % 7 + 1  # tomorrow only
    windows = orjson.dumps([{"days": [other_day], "start": "10:00", "end": "11:00"}]).decode()
    d = decider({"allowed_hours_json": windows})
    assert d.token_status(ConnectionContext("CP-1", "ocpp2.0.1"), "T1", "ISO14443")[0] == "NotAtThisTime"
    assert d.token_status(ConnectionContext("CP-1", "ocpp1.6"), "T1", None)[0] == "Invalid"


@pytest.mark.parametrize(("when", "inside"), [
    (datetime(2026, 11, 30, 23, 30, tzinfo=UTC), True),   # Monday 23:30, window Mon 22:00 -> 06:00
    (datetime(2026, 12, 1, 5, 59, tzinfo=UTC), True),     # Tuesday 05:59, the same night
    (datetime(2026, 12, 1, 6, 0, tzinfo=UTC), False),
    (datetime(2026, 11, 30, 21, 59, tzinfo=UTC), False),
    (datetime(2026, 11, 30, 5, 0, tzinfo=UTC), False),    # Monday 05:00 belongs to Sunday's night: not allowed
])
def test_windows_past_midnight(when, inside):
    assert within_hours(orjson.dumps([{"days": [1], "start": "22:00", "end": "06:00"}]).decode(), when) is inside

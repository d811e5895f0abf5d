"""Command-routing tables: first claim wins, releases, presence of live edges, the deterministic owner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ocpp_edge.presence import Deliveries, PendingCommand, Presence, edge_key, owner, station_key

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def delivery(state: str, edge_id: str, event_id: str, status: str | None = None) -> dict:
    return {"event_id": event_id, "command_id": "c1", "station_id": "S", "edge_id": edge_id,
            "connection_id": "k", "state": state, "status": status, "at": T0}


def test_first_claim_wins_until_released_and_done_is_final():
    d = Deliveries()
    d.apply(delivery("CLAIMED", "a", "e1"), "c1")
    d.apply(delivery("CLAIMED", "b", "e2"), "c1")
    assert d.winner("c1").event_id == "e1"
    d.apply(delivery("RELEASED", "b", "e3"), "c1")  # only the winner can release its claim
    assert d.winner("c1").event_id == "e1"
    d.apply(delivery("RELEASED", "a", "e4"), "c1")
    d.apply(delivery("CLAIMED", "b", "e5"), "c1")
    assert d.winner("c1").edge_id == "b"
    d.apply(delivery("DONE", "b", "e6", "RESULT"), "c1")
    d.apply(delivery("CLAIMED", "a", "e7"), "c1")
    assert d.is_done("c1") and d.winner("c1") is None


def test_presence_counts_only_live_edges():
    p = Presence()
    p.apply(edge_key("a"), {"edge_id": "a", "at": T0})
    p.apply(edge_key("b"), {"edge_id": "b", "at": T0 - timedelta(seconds=60)})
    p.apply(station_key("S"), {"edge_id": "b", "connection_id": "k"})
    alive = p.alive(T0 + timedelta(seconds=1), timedelta(seconds=5), "me")
    assert alive == {"a", "me"}
    assert p.holder("S", alive) is None  # held by a dead edge: nobody holds it
    p.apply(station_key("S"), {"edge_id": "a", "connection_id": "k2"})
    assert p.holder("S", alive).edge_id == "a"
    p.apply(station_key("S"), None)
    assert p.holder("S", alive) is None


def test_owner_is_deterministic_and_moves_only_the_leaving_edges_stations():
    stations = [f"S{i}" for i in range(300)]
    three = frozenset({"a", "b", "c"})
    before = {s: owner(s, three) for s in stations}
    assert before == {s: owner(s, frozenset(["c", "b", "a"])) for s in stations}
    assert set(before.values()) == three
    after = {s: owner(s, frozenset({"a", "b"})) for s in stations}
    assert all(after[s] == before[s] for s in stations if before[s] != "c")
    assert owner("S", frozenset()) is None


def test_when_a_command_gives_up():
    no_expiry = PendingCommand("c", "S", "Reset", "{}", T0, None)
    assert no_expiry.gives_up(T0 + timedelta(seconds=4), timedelta(seconds=5)) is None
    assert no_expiry.gives_up(T0 + timedelta(seconds=5), timedelta(seconds=5)) == "NOT_CONNECTED"
    waits = PendingCommand("c", "S", "Reset", "{}", T0, T0 + timedelta(minutes=10))
    assert waits.gives_up(T0 + timedelta(minutes=9), timedelta(seconds=5)) is None
    assert waits.gives_up(T0 + timedelta(minutes=10), timedelta(seconds=5)) == "EXPIRED"

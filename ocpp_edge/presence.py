"""Pure tables for routing charger commands across edges: who holds which socket, which edges are alive, which
edge won each command (docs/architecture.md, "Commands to chargers and several edges").

`Presence` is materialised from the compacted `edge.presence` topic, `Deliveries` from `edge.deliveries`. Both are
fed in log order per key; no I/O here.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

STATION_PREFIX = "station/"
EDGE_PREFIX = "edge/"


def station_key(station_id: str) -> str:
    return STATION_PREFIX + station_id


def edge_key(edge_id: str) -> str:
    return EDGE_PREFIX + edge_id


def owner(station_id: str, alive: frozenset[str]) -> str | None:
    """The edge that answers for a station no edge holds: rendezvous hashing over the live edges, so every edge
    that sees the same live set picks the same owner, and an edge leaving moves only its own stations."""
    if not alive:
        return None
    return max(alive, key=lambda edge_id: hashlib.blake2b(f"{edge_id}|{station_id}".encode(), digest_size=8).digest())


@dataclass(frozen=True, slots=True)
class Holder:
    edge_id: str
    connection_id: str


@dataclass
class Presence:
    """station id -> the edge holding its socket; edge id -> when it last said it was alive (its own clock)."""

    holders: dict[str, Holder] = field(default_factory=dict)
    heartbeats: dict[str, datetime] = field(default_factory=dict)

    def apply(self, key: str, value: dict[str, Any] | None) -> None:
        if key.startswith(STATION_PREFIX):
            station_id = key[len(STATION_PREFIX):]
            if value is None:
                self.holders.pop(station_id, None)
            else:
                self.holders[station_id] = Holder(value["edge_id"], value["connection_id"] or "")
        elif key.startswith(EDGE_PREFIX):
            if value is None:
                self.heartbeats.pop(key[len(EDGE_PREFIX):], None)
            else:
                self.heartbeats[value["edge_id"]] = value["at"]

    def alive(self, now: datetime, stale_after: timedelta, me: str) -> frozenset[str]:
        return frozenset(e for e, at in self.heartbeats.items() if now - at <= stale_after) | {me}

    def holder(self, station_id: str, alive: frozenset[str]) -> Holder | None:
        """The live edge holding the station, or None (a record of a dead edge does not count)."""
        held = self.holders.get(station_id)
        return held if held is not None and held.edge_id in alive else None


@dataclass(frozen=True, slots=True)
class Claim:
    event_id: str
    edge_id: str
    connection_id: str | None
    at: datetime


@dataclass
class Deliveries:
    """command id -> the winning claim (first CLAIMED after the last RELEASED) or its final status."""

    claims: dict[str, Claim] = field(default_factory=dict)
    done: OrderedDict[str, str] = field(default_factory=OrderedDict)
    max_done: int = 1_000_000

    def apply(self, value: dict[str, Any] | None, command_id: str) -> None:
        if value is None or command_id in self.done:
            return
        state = value["state"]
        if state == "CLAIMED" and command_id not in self.claims:
            self.claims[command_id] = Claim(value["event_id"], value["edge_id"], value["connection_id"], value["at"])
        elif state == "RELEASED":
            claim = self.claims.get(command_id)
            if claim is not None and claim.edge_id == value["edge_id"]:
                del self.claims[command_id]
        elif state == "DONE":
            self.claims.pop(command_id, None)
            self.done[command_id] = value["status"] or "UNKNOWN"
            if len(self.done) > self.max_done:
                self.done.popitem(last=False)

    def winner(self, command_id: str) -> Claim | None:
        return self.claims.get(command_id)

    def is_done(self, command_id: str) -> bool:
        return command_id in self.done


@dataclass(frozen=True, slots=True)
class PendingCommand:
    """An `OcppCommand` this edge has read and not seen finished."""

    command_id: str
    station_id: str
    action: str
    payload_json: str
    requested_at: datetime
    expires_at: datetime | None

    @classmethod
    def from_event(cls, value: dict[str, Any]) -> PendingCommand:
        return cls(value["command_id"], value["station_id"], value["action"], value["payload_json"],
                   value["requested_at"], value["expires_at"])

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def gives_up(self, now: datetime, grace: timedelta) -> str | None:
        """For a station no edge holds: "EXPIRED" / "NOT_CONNECTED" once it is time to say so, else None.
        A command with an expiry waits for its charger until then; one without waits `grace` (a reconnect)."""
        if self.expires_at is not None:
            return "EXPIRED" if now >= self.expires_at else None
        return "NOT_CONNECTED" if now >= self.requested_at + grace else None

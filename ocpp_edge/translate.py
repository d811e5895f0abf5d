"""Pure: OCPP frames as they crossed the socket -> `csms.ocpp.OcppMessage` event values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from random import getrandbits
from typing import Any

import orjson

OCPP_MESSAGE = "csms.ocpp.OcppMessage"
CONNECTION_EVENT = "csms.ocpp.ConnectionEvent"
_TYPE_NAMES = {2: "CALL", 3: "CALLRESULT", 4: "CALLERROR", 5: "CALLRESULTERROR", 6: "SEND"}
_V4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))  # version nibble and variant bits
_V4_SET = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant


@dataclass(frozen=True, slots=True)
class Connection:
    """Who is on the other end of a socket (connection state only: no business state)."""

    station_id: str
    edge_id: str
    connection_id: str
    ocpp_version: str
    remote_address: str | None
    security_profile: int


def new_event_id() -> str:
    """A random (version 4) UUID as text, without uuid4()'s urandom syscall: event ids need to be unique, not
    secret, and two of them are made per charger message. `random` is seeded from urandom and reseeded after fork."""
    h = f"{(getrandbits(128) & _V4_CLEAR) | _V4_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def parse_timestamp(value: Any) -> datetime | None:
    """A charger's RFC 3339 timestamp, or None when absent or unreadable (charger clocks are not trusted)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def charger_timestamp(payload: dict[str, Any] | None) -> datetime | None:
    if not payload:
        return None
    return parse_timestamp(payload.get("timestamp"))


def message_event(
    conn: Connection,
    *,
    direction: str,
    message_type: int | str,
    message_id: str,
    sequence: int,
    received_at: datetime,
    action: str | None = None,
    payload: dict[str, Any] | None = None,
    raw_payload_json: str | None = None,
    request: dict[str, Any] | None = None,
    request_json: str | None = None,
    error: tuple[str, str, dict[str, Any] | None] | None = None,
    in_reply_to: str | None = None,
    command_id: str | None = None,
) -> dict[str, Any]:
    """One OcppMessage value (the event id is new); `request_json` is `request` already serialised."""
    type_name = _TYPE_NAMES.get(message_type, "UNKNOWN") if isinstance(message_type, int) else message_type
    payload_json = (
        raw_payload_json
        if raw_payload_json is not None
        else (orjson.dumps(payload).decode() if payload is not None else None)
    )
    return {
        "event_id": new_event_id(),
        "station_id": conn.station_id,
        "edge_id": conn.edge_id,
        "connection_id": conn.connection_id,
        "ocpp_version": conn.ocpp_version,
        "direction": direction,
        "message_type": type_name,
        "message_id": message_id,
        "action": action,
        "payload_json": payload_json,
        "error_code": error[0] if error else None,
        "error_description": error[1] if error else None,
        "error_details_json": orjson.dumps(error[2]).decode() if error and error[2] else None,
        "charger_timestamp": charger_timestamp(payload) if direction == "CHARGER_TO_CSMS" else None,
        "received_at": received_at,
        "sequence": sequence,
        "in_reply_to": in_reply_to,
        "command_id": command_id,
        "request_payload_json": request_json if request_json is not None
        else (orjson.dumps(request).decode() if request is not None else None),
    }


def connection_event(
    conn: Connection, kind: str, *, close_code: int | None = None, close_reason: str | None = None
) -> dict[str, Any]:
    return {
        "event_id": new_event_id(),
        "station_id": conn.station_id,
        "edge_id": conn.edge_id,
        "connection_id": conn.connection_id,
        "kind": kind,
        "ocpp_version": conn.ocpp_version,
        "remote_address": conn.remote_address,
        "security_profile": conn.security_profile,
        "close_code": close_code,
        "close_reason": (close_reason or None) and close_reason[:200],
        "at": datetime.now(UTC),
    }

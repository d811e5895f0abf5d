"""CSMS-initiated calls to chargers and their replies.

`call()` sends a CALL on a charger's socket (one in flight per charger) and returns the reply; every frame is
published. A CALLRESULT/CALLERROR that answers no pending call is logged and published, never fatal.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from csms.logs import get_logger
from ocpp_edge import protocol as p
from ocpp_edge.decide import solicited_by
from ocpp_edge.translate import message_event

if TYPE_CHECKING:
    from ocpp_edge.charge_point import ChargePointSession

log = get_logger(__name__)


@dataclass
class _Pending:
    action: str
    payload: dict[str, Any]
    command_id: str | None
    reply: asyncio.Future[p.Frame]


class CommandRouter:
    def __init__(self) -> None:
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def call(self, session: ChargePointSession, action: str, payload: dict[str, Any], *,
                   timeout: float = 30.0, command_id: str | None = None) -> p.Frame:
        """Send a validated CALL and wait for the charger's reply (raises TimeoutError)."""
        version = session.version
        p.validate_call(version, action, payload)
        session.ctx.solicited |= solicited_by(action, payload)
        station = session.conn.station_id
        lock = self._locks.setdefault(station, asyncio.Lock())
        async with lock:
            message_id = str(uuid.uuid4())
            future: asyncio.Future[p.Frame] = asyncio.get_running_loop().create_future()
            self._pending[(station, message_id)] = _Pending(action, payload, command_id, future)
            try:
                event = message_event(session.conn, direction="CSMS_TO_CHARGER", message_type=2,
                                      message_id=message_id, sequence=session._next_seq(),
                                      received_at=datetime.now(UTC), action=action, payload=payload,
                                      command_id=command_id)
                await session.edge.publisher.publish_durable([session._record(event)])
                session.send(p.call(message_id, action, payload))
                return await asyncio.wait_for(future, timeout)
            finally:
                self._pending.pop((station, message_id), None)

    async def on_reply(self, session: ChargePointSession, frame: p.Frame, received_at: datetime) -> None:
        station = session.conn.station_id
        pending = self._pending.get((station, frame.message_id))
        error: tuple[str, str, dict[str, Any] | None] | None = None
        payload = None
        if isinstance(frame, p.CallResult):
            payload = frame.payload
            if pending is not None:
                try:
                    p.validate_result(session.version, pending.action, frame.payload, message_id=frame.message_id)
                except p.ProtocolViolation as violation:
                    error = (violation.code, violation.description, None)
        elif isinstance(frame, p.CallError | p.CallResultError):
            error = (frame.error_code, frame.error_description, frame.error_details or None)
        if pending is None:
            log.warning("reply for no pending call", station_id=station, message_id=frame.message_id)
        event = message_event(
            session.conn, direction="CHARGER_TO_CSMS", message_type=3 if isinstance(frame, p.CallResult) else 4,
            message_id=frame.message_id, sequence=session._next_seq(), received_at=received_at,
            action=pending.action if pending else None, payload=payload, error=error,
            request=pending.payload if pending else None, command_id=pending.command_id if pending else None)
        await session.edge.publisher.publish_durable([session._record(event)])
        if pending is not None and not pending.reply.done():
            pending.reply.set_result(frame)

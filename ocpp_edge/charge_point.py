"""One charger's socket: read frames, validate, answer from state, publish every frame durably. Thin.

The loop handles one frame at a time (a charger has at most one CALL in flight), answers a CALL only after its
events are durable, and never awaits a call to the charger.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from csms.logs import get_logger
from ocpp_edge import protocol as p
from ocpp_edge.decide import ConnectionContext
from ocpp_edge.spool import SpooledRecord
from ocpp_edge.translate import OCPP_MESSAGE, Connection, message_event

if TYPE_CHECKING:
    from ocpp_edge.server import Edge

log = get_logger(__name__)
IN, OUT = "CHARGER_TO_CSMS", "CSMS_TO_CHARGER"


class AnswerCache:
    """The last answers per station, so a repeated message id gets the same answer (survives reconnects)."""

    def __init__(self, per_station: int, stations: int = 200_000) -> None:
        self.per_station, self.stations = per_station, stations
        self._data: OrderedDict[str, OrderedDict[str, bytes]] = OrderedDict()

    def get(self, station_id: str, message_id: str) -> bytes | None:
        answers = self._data.get(station_id)
        return answers.get(message_id) if answers is not None else None

    def put(self, station_id: str, message_id: str, answer: bytes) -> None:
        if self.per_station == 0:
            return
        answers = self._data.get(station_id)
        if answers is None:
            answers = self._data[station_id] = OrderedDict()
            if len(self._data) > self.stations:
                self._data.popitem(last=False)
        answers[message_id] = answer
        while len(answers) > self.per_station:
            answers.popitem(last=False)


class ChargePointSession:
    def __init__(self, ws: ServerConnection, conn: Connection, edge: Edge) -> None:
        self.ws, self.conn, self.edge = ws, conn, edge
        self.ctx = ConnectionContext(conn.station_id, conn.ocpp_version)
        self.version = conn.ocpp_version
        self.sequence = 0
        self._topic = edge.topics.name("ocpp.messages")
        self._key = conn.station_id.encode()

    def _next_seq(self) -> int:
        seq = self.sequence
        self.sequence += 1
        return seq

    def _record(self, value: dict[str, Any]) -> SpooledRecord:
        codec = self.edge.codec
        headers = codec.headers(OCPP_MESSAGE, value["event_id"])
        headers.append(("ocpp_type", value["message_type"].encode()))  # lets processors skip before decoding
        if value["action"]:
            headers.append(("ocpp_action", value["action"].encode()))
        return SpooledRecord(self._topic, self._key, codec.encode(OCPP_MESSAGE, value), tuple(headers))

    async def run(self) -> None:
        observe = self.edge.metrics.answer_seconds.observe
        recv = self.ws.recv
        try:
            while True:
                raw = await recv(decode=False)  # orjson reads the bytes; websockets already checked the UTF-8
                started = time.perf_counter()
                await self.on_frame(raw, datetime.now(UTC))
                observe(time.perf_counter() - started)
        except ConnectionClosed:
            pass

    async def on_frame(self, raw: str | bytes, received_at: datetime) -> None:
        count = self.edge.metrics.count_frame
        try:
            frame = p.parse_frame(raw, self.version)
        except p.ProtocolViolation as violation:
            count(IN, "INVALID")
            await self.reject(violation, raw, received_at)
            return
        if isinstance(frame, p.Call):
            count(IN, "CALL")
            await self.on_call(frame, raw, received_at)
        elif isinstance(frame, p.Send):
            count(IN, "SEND")
            await self.on_send(frame, received_at)
        else:
            count(IN, type(frame).__name__.upper())
            await self.edge.commands.on_reply(self, frame, received_at)

    async def on_call(self, call: p.Call, raw: str | bytes, received_at: datetime) -> None:
        cache = self.edge.answers
        cached = cache.get(self.conn.station_id, call.message_id)
        call_event = message_event(self.conn, direction=IN, message_type=2, message_id=call.message_id,
                                   sequence=self._next_seq(), received_at=received_at, action=call.action,
                                   payload=call.payload)
        try:
            if cached is not None:
                await self._publish_and_send([call_event], cached, received_at, replay=True)
                return
            if call.action in p.CSMS_INITIATED[self.version] and call.action not in p.CHARGER_INITIATED[self.version]:
                raise p.ProtocolViolation("NotSupported", call.message_id,
                                          f"{call.action} is sent by the CSMS, not by a charging station")
            p.validate_call(self.version, call.action, call.payload, message_id=call.message_id)
            if not self.version == "ocpp1.6" and call.action != "BootNotification" and \
                    self.edge.settings.require_boot_for_v2 and not self.edge.decider.accepted(self.ctx) and \
                    call.action not in self.ctx.solicited:
                raise p.ProtocolViolation("SecurityError", call.message_id,
                                          "not accepted yet: send BootNotification first (B02.FR.09/B03.FR.07)")
            answer = await self._decide(call)
        except p.ProtocolViolation as violation:
            reply = p.error_reply(violation, self.version) or b""
            self.edge.metrics.errors.labels(violation.code).inc()
            error_event = message_event(
                self.conn, direction=OUT, message_type=4, message_id=call.message_id, sequence=self._next_seq(),
                received_at=datetime.now(UTC), action=call.action, request=call.payload,
                error=(violation.code, violation.description, None), in_reply_to=call_event["event_id"])
            await self._publish_and_send([call_event, error_event], reply, received_at)
            cache.put(self.conn.station_id, call.message_id, reply)
            return
        result = p.call_result(call.message_id, answer)
        result_event = message_event(
            self.conn, direction=OUT, message_type=3, message_id=call.message_id, sequence=self._next_seq(),
            received_at=datetime.now(UTC), action=call.action, payload=answer,
            request_json=call_event["payload_json"], in_reply_to=call_event["event_id"])
        await self._publish_and_send([call_event, result_event], result, received_at)
        cache.put(self.conn.station_id, call.message_id, result)

    async def _decide(self, call: p.Call) -> dict[str, Any]:
        """The answer from state; an unexpected failure is the charger's InternalError, never a dead socket."""
        try:
            answer = await self.edge.decider.answer(self.ctx, call.action, call.payload)
            p.validate_result(self.version, call.action, answer, message_id=call.message_id)
        except p.ProtocolViolation:
            raise
        except Exception as exc:
            log.exception("could not answer", station_id=self.conn.station_id, action=call.action)
            raise p.ProtocolViolation("InternalError", call.message_id, f"{type(exc).__name__}") from exc
        return answer

    async def _publish_and_send(self, events: list[dict[str, Any]], reply: bytes, received_at: datetime,
                                *, replay: bool = False) -> None:
        if replay:
            reply_frame = orjson.loads(reply)
            kind = reply_frame[0]
            events.append(message_event(
                self.conn, direction=OUT, message_type=kind, message_id=reply_frame[1], sequence=self._next_seq(),
                received_at=datetime.now(UTC), action=events[0]["action"],
                payload=reply_frame[2] if kind == 3 else None,
                error=(reply_frame[2], reply_frame[3], None) if kind == 4 else None,
                request_json=events[0]["payload_json"],
                in_reply_to=events[0]["event_id"]))
        where = await self.edge.publisher.publish_durable([self._record(e) for e in events])
        if where == "spool":
            self.edge.metrics.spooled.inc(len(events))
        if reply:
            await self.send(reply)

    async def send(self, frame: bytes) -> None:
        self.edge.metrics.count_frame(OUT, {b"2": "CALL", b"3": "CALLRESULT"}.get(frame[1:2], "CALLERROR"))
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(frame, text=True)  # OCPP-J frames are text frames; no decode and re-encode

    async def on_send(self, send: p.Send, received_at: datetime) -> None:
        """2.1 SEND: validated and published, never answered (an invalid one is published with its error)."""
        error = None
        try:
            p.validate_send(self.version, send.action, send.payload, message_id=send.message_id)
        except p.ProtocolViolation as violation:
            error = (violation.code, violation.description, None)
        event = message_event(self.conn, direction=IN, message_type=6, message_id=send.message_id,
                              sequence=self._next_seq(), received_at=received_at, action=send.action,
                              payload=send.payload, error=error)
        await self.edge.publisher.publish_durable([self._record(event)])

    async def reject(self, violation: p.ProtocolViolation, raw: str | bytes, received_at: datetime) -> None:
        """A frame that is not valid OCPP-J: published with its error, answered as the version prescribes."""
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        in_event = message_event(
            self.conn, direction=IN, message_type=violation.message_type or "UNKNOWN",
            message_id=violation.message_id, sequence=self._next_seq(), received_at=received_at,
            error=(violation.code, violation.description, {"frame": text[:2000]}))
        events = [in_event]
        reply = p.error_reply(violation, self.version)
        if reply is not None:
            self.edge.metrics.errors.labels(violation.code).inc()
            events.append(message_event(
                self.conn, direction=OUT, message_type=orjson.loads(reply)[0], message_id=violation.message_id,
                sequence=self._next_seq(), received_at=datetime.now(UTC),
                error=(violation.code, violation.description, None), in_reply_to=in_event["event_id"]))
        log.info("invalid frame", station_id=self.conn.station_id, code=violation.code,
                 description=violation.description)
        await self._publish_and_send(events, reply or b"", received_at)

"""One charger's socket: read frames, validate, answer from state, publish every frame durably. Thin.

picows calls `on_ws_frame` for every frame, in the event loop, with no Task or future of its own. A complete text
message goes into the session's inbox; one long-lived coroutine per connection (`run`) takes them one at a time, so
per-connection work stays strictly ordered, answers a CALL only after its events are durable, and never awaits a
call to the charger. Fragmented messages are joined here (picows delivers frames, not messages) under the same size
limit as single frames: a larger message closes the socket with 1009.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport
from picows.picows import WSCloseInfo

from csms.logs import get_logger
from ocpp_edge import protocol as p
from ocpp_edge.decide import ConnectionContext
from ocpp_edge.spool import SpooledRecord
from ocpp_edge.translate import OCPP_MESSAGE, Connection, message_event

if TYPE_CHECKING:
    from ocpp_edge.server import Edge

log = get_logger(__name__)
IN, OUT = "CHARGER_TO_CSMS", "CSMS_TO_CHARGER"
_TEXT, _BINARY, _CONTINUATION, _CLOSE = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION, WSMsgType.CLOSE
_ABNORMAL = 1006  # RFC 6455 7.1.5: closed without a close frame
INBOX_HIGH = 4  # messages waiting in a session's inbox before the socket stops being read (as websockets' max_queue)


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


class ChargePointSession(WSListener):
    def __init__(self, conn: Connection, edge: Edge) -> None:
        super().__init__()
        self.conn, self.edge = conn, edge
        self.ctx = ConnectionContext(conn.station_id, conn.ocpp_version)
        self.version = conn.ocpp_version
        self.sequence = 0
        self.transport: WSTransport | None = None
        self._topic = edge.topics.name("ocpp.messages")
        self._key = conn.station_id.encode()
        self._inbox: deque[bytes] = deque()
        self._wakeup: asyncio.Future[None] | None = None
        self._fragments: list[bytes] | None = None
        self._fragment_bytes = 0
        self._disconnected = asyncio.get_running_loop().create_future()
        self._abort: asyncio.TimerHandle | None = None
        self._reading_paused = False

    # -- picows callbacks (in the event loop, synchronous) -------------------------------------------------
    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.edge.opened(self)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is _TEXT or kind is _BINARY:
            if frame.fin:
                self._received(frame.get_payload_as_bytes())
            else:
                self._fragments, self._fragment_bytes = [frame.get_payload_as_bytes()], frame.payload_size
        elif kind is _CONTINUATION:
            if self._fragments is None:
                self._fail(WSCloseCode.PROTOCOL_ERROR, "continuation frame without a first frame")
                return
            self._fragment_bytes += frame.payload_size
            if self._fragment_bytes > self.edge.settings.max_frame_bytes:
                self._fragments = None
                self._fail(WSCloseCode.MESSAGE_TOO_BIG, f"message over {self.edge.settings.max_frame_bytes} bytes")
                return
            self._fragments.append(frame.get_payload_as_bytes())
            if frame.fin:
                message, self._fragments = b"".join(self._fragments), None
                self._received(message)
        elif kind is _CLOSE:
            if not transport.is_close_frame_sent:  # the charger closes: echo its code (RFC 6455 5.5.1)
                transport.send_close(_echo_code(frame), frame.get_close_message())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self._abort is not None:
            self._abort.cancel()
        if not self._disconnected.done():
            self._disconnected.set_result(None)
        self._wake()

    def _received(self, message: bytes) -> None:
        """Queue a message; a charger that sends faster than it is served stops being read (backpressure)."""
        self._inbox.append(message)
        if len(self._inbox) >= INBOX_HIGH and not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.underlying_transport.pause_reading()
        self._wake()

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    def _fail(self, code: WSCloseCode, reason: str) -> None:
        log.info("closing connection", station_id=self.conn.station_id, code=code.value, reason=reason)
        self.close(code.value, reason)

    # -- the connection ----------------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        t = self.transport
        return t is not None and not t.is_disconnected and not t.is_close_frame_sent

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame; the socket is dropped when the charger answers it or after `close_timeout_s`
        (a half-open socket never answers, and nothing waits for it)."""
        t = self.transport
        if t is None or t.is_disconnected:
            return
        t.send_close(WSCloseCode(code), reason.encode())
        if self._abort is None:
            self._abort = asyncio.get_running_loop().call_later(
                self.edge.settings.close_timeout_s, t.disconnect, False)

    async def wait_closed(self) -> None:
        await asyncio.shield(self._disconnected)

    def _close_info(self) -> WSCloseInfo | None:
        """The close frame received, else the one sent (as websockets reported close_code); None if neither."""
        handshake = self.transport.close_handshake if self.transport is not None else None
        if handshake is None:
            return None
        return handshake.recv or handshake.sent

    @property
    def close_code(self) -> int:
        info = self._close_info()
        return info.code.value if info is not None else _ABNORMAL

    @property
    def close_reason(self) -> str:
        info = self._close_info()
        return info.reason if info is not None else ""

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
        """Handle the inbox in order until the socket is gone (frames already received are still handled)."""
        observe = self.edge.metrics.answer_seconds.observe
        inbox, loop = self._inbox, asyncio.get_running_loop()
        while True:
            if not inbox:
                if self._disconnected.done():
                    return
                self._wakeup = loop.create_future()
                await self._wakeup
                continue
            started = time.perf_counter()
            message = inbox.popleft()
            if self._reading_paused and not inbox and self.is_open:
                self._reading_paused = False
                self.transport.underlying_transport.resume_reading()  # type: ignore[union-attr]
            await self.on_frame(message, datetime.now(UTC))
            observe(time.perf_counter() - started)

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
            self.send(reply)

    def send(self, frame: bytes) -> None:
        """Queue a text frame on the socket (nothing happens once the socket is closing)."""
        self.edge.metrics.count_frame(OUT, _KINDS.get(frame[1:2], "CALLERROR"))
        if self.transport is not None:
            self.transport.send(_TEXT, frame)  # OCPP-J frames are text frames; no decode and re-encode

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


_KINDS = {b"2": "CALL", b"3": "CALLRESULT"}


def _echo_code(frame: WSFrame) -> WSCloseCode:
    """The code of a charger's close frame to echo; 1000 when it has none or one picows does not name."""
    try:
        code = frame.get_close_code()
    except ValueError:
        return WSCloseCode.OK
    return WSCloseCode.OK if code == WSCloseCode.NO_INFO else code

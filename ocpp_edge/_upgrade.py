"""The HTTP upgrade in front of picows: read the request head, decide asynchronously, then hand the socket over.

picows asks its listener factory synchronously, but an upgrade may need argon2 (a thread) before it is admitted.
So every accepted socket starts with `UpgradeGate`, a small asyncio protocol that reads the request head (nothing
else may arrive before a 101), asks `decide(request, transport)` and then either writes the refusal itself and
closes, or puts a picows `WSProtocol` on the transport and feeds it the head it already read: picows then validates
the WebSocket handshake (Sec-WebSocket-Key, version) and answers 101 with the subprotocol the decision chose. From
then on frames go straight from the socket to the session's `on_ws_frame` callback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, cast

from multidict import CIMultiDict
from picows import WSAutoPingStrategy, WSListener, WSUpgradeResponse, WSUpgradeResponseWithListener
from picows.picows import WSProtocol  # type: ignore[attr-defined]

from csms.logs import get_logger

__all__ = ["Admit", "Refuse", "Request", "UpgradeGate", "WsOptions"]

log = get_logger(__name__)
MAX_HEAD = 16 * 1024  # request line and headers; more is refused with 431
_PICOWS_LOGGER = logging.getLogger("picows.edge")
_PICOWS_LOGGER.setLevel(logging.WARNING)  # picows logs every accepted connection at INFO
# An adapter, not the Logger: given a Logger, picows builds a child Logger object for every connection.
_PICOWS_LOG = logging.LoggerAdapter(_PICOWS_LOGGER, {})


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: CIMultiDict[str]


@dataclass(frozen=True, slots=True)
class Refuse:
    status: HTTPStatus
    body: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Admit:
    listener: WSListener
    subprotocol: str


@dataclass(frozen=True, slots=True)
class WsOptions:
    """The picows side of a connection (ocpp_edge/settings.py)."""

    max_frame_bytes: int
    ping_interval_s: float | None
    ping_timeout_s: float | None
    handshake_timeout_s: float = 10.0
    read_buffer_bytes: int = 4096  # grows by doubling when a frame needs more; 16 KiB default x 10,000 idle sockets


Decide = Callable[[Request, asyncio.BaseTransport], Awaitable[Admit | Refuse]]


def parse_head(head: bytes) -> Request | None:
    """`GET /path HTTP/1.1` and its headers; None when it is not an HTTP/1.1 request line."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            return None
        headers.add(name, value.strip())
    return Request(parts[0], parts[1], headers)


def http_response(refusal: Refuse) -> bytes:
    body = refusal.body.encode()
    head = [f"HTTP/1.1 {refusal.status.value} {refusal.status.phrase}", "Server: csms-edge", "Connection: close",
            "Content-Type: text/plain; charset=utf-8", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in refusal.headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class UpgradeGate(asyncio.Protocol):
    """One socket until its upgrade is decided (see the module docstring)."""

    def __init__(self, decide: Decide, options: WsOptions, tasks: set[asyncio.Task[Any]]) -> None:
        self._decide, self._options, self._tasks = decide, options, tasks
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._deciding = False
        self._timeout: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self._timeout = asyncio.get_running_loop().call_later(self._options.handshake_timeout_s,
                                                              self._transport.abort)

    def data_received(self, data: bytes) -> None:
        if self._deciding or self._transport is None:
            return  # a client must wait for the 101 before sending frames; anything else is dropped with it
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEAD:
                self._finish(Refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request head too large\n"))
            return
        request = parse_head(bytes(self._buffer[:end]))
        if request is None:
            self._finish(Refuse(HTTPStatus.BAD_REQUEST, "not an HTTP/1.1 request\n"))
            return
        self._deciding = True
        self._transport.pause_reading()
        task = asyncio.ensure_future(self._run(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, request: Request) -> None:
        assert self._transport is not None
        try:
            verdict = await self._decide(request, self._transport)
        except Exception:
            log.exception("upgrade decision failed", path=request.path[:200])
            verdict = Refuse(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error\n")
        self._finish(verdict)

    def _finish(self, verdict: Admit | Refuse) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._timeout is not None:
            self._timeout.cancel()
        if isinstance(verdict, Refuse):
            transport.write(http_response(verdict))
            transport.close()
            self._transport = None
            return
        self._hand_over(transport, verdict)

    def _hand_over(self, transport: asyncio.Transport, admit: Admit) -> None:
        """Put picows on the socket and let it read the request head again (it answers the 101)."""
        o = self._options
        response = WSUpgradeResponse.create_101_response(
            extra_headers={"Sec-WebSocket-Protocol": admit.subprotocol, "Server": "csms-edge"})

        def listener_factory(_request: Any) -> WSUpgradeResponseWithListener:
            return WSUpgradeResponseWithListener(response, admit.listener)

        ping = o.ping_interval_s is not None and o.ping_timeout_s is not None
        idle = o.ping_interval_s or 20.0
        protocol = WSProtocol(None, None, False, listener_factory, _PICOWS_LOG, True, o.handshake_timeout_s, ping,
                              idle, min(o.ping_timeout_s or idle, idle), WSAutoPingStrategy.PING_WHEN_IDLE, True,
                              o.max_frame_bytes, None, o.read_buffer_bytes)
        head, self._buffer, self._transport = bytes(self._buffer), bytearray(), None
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        while head:  # in pieces when the head is larger than picows' read buffer (it grows as it fills)
            view = protocol.get_buffer(len(head))
            piece = min(len(view), len(head))
            view[:piece] = head[:piece]
            head = head[piece:]
            protocol.buffer_updated(piece)
        transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timeout is not None:
            self._timeout.cancel()
        self._transport = None

"""The edge's composition root: WebSocket endpoint, subprotocols, connection registry, health and metrics.

`ws://HOST:4000/ocpp/{station_id}`: the station id must be 1-48 characters from RFC 3986's unreserved set
(OCPP 2.0.1 part 4 §3.1.1; 1.6 chargers use the same URL form); the charger must offer one of ocpp2.1,
ocpp2.0.1, ocpp1.6; the first of its own list that we support is chosen. Anything else is refused at the HTTP
upgrade with a status and a log line, before any WebSocket exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
import uuid
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from csms.http import HealthServer
from csms.kafka import make_producer
from csms.logs import get_logger
from ocpp_edge import protocol as p
from ocpp_edge.charge_point import AnswerCache, ChargePointSession
from ocpp_edge.commands import CommandRouter
from ocpp_edge.decide import Decider
from ocpp_edge.metrics import EdgeMetrics
from ocpp_edge.publisher import Publisher
from ocpp_edge.settings import EdgeSettings
from ocpp_edge.spool import Spool, SpooledRecord
from ocpp_edge.state import EdgeState, StateMaterializer
from ocpp_edge.translate import CONNECTION_EVENT, Connection, connection_event
from ocpp_edge.txids import TxIdAllocator
from schemas import AvroCodec, TopicCatalog, load_topics

log = get_logger(__name__)
SUBPROTOCOLS = ("ocpp2.1", "ocpp2.0.1", "ocpp1.6")
STATION_ID = re.compile(r"^[A-Za-z0-9\-._~]{1,48}$")
PATH = re.compile(r"^/ocpp/([^/?#]*)/?(?:\?.*)?$")


def offered_subprotocols(headers: Headers) -> list[str]:
    offered: list[str] = []
    for value in headers.get_all("Sec-WebSocket-Protocol"):
        offered += [item.strip() for item in value.split(",") if item.strip()]
    return offered


def station_from_path(path: str) -> str | None:
    match = PATH.match(path)
    return match.group(1) if match else None


class Edge:
    """Everything one edge process holds; built by `start()`, torn down by `stop()`."""

    def __init__(self, settings: EdgeSettings, *, topics: TopicCatalog | None = None,
                 codec: AvroCodec | None = None) -> None:
        self.settings = settings
        self.topics = (topics or load_topics()).with_prefix(settings.kafka.topic_prefix)
        self.codec = codec or AvroCodec()
        self.metrics = EdgeMetrics()
        self.state = EdgeState()
        self.answers = AnswerCache(settings.answer_cache_per_station)
        self.commands = CommandRouter()
        self.sessions: dict[str, ChargePointSession] = {}
        self.stop_event = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._server: Server | None = None
        self._connections_at_freeze = 0

    # -- lifecycle ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        self.producer = make_producer(s.kafka, client_id=f"edge-{s.edge_id}", linger_ms=1,
                                      request_timeout_ms=max(1000, int(s.durable_timeout_s * 1000)))
        await self.producer.start()
        self.spool = Spool(s.spool_dir, s.edge_id)
        self.publisher = Publisher(self.producer, self.spool, durable_timeout=s.durable_timeout_s)
        self.txids = TxIdAllocator(self.producer, self.topics.name("edge.txid-leases"), self.codec,
                                   edge_id=s.edge_id, block_size=s.txid_block_size,
                                   state_file=s.spool_dir / f"{s.edge_id}.txids")
        await self.txids.ensure_reserve()
        self.decider = Decider(self.state, self.txids, unknown_stations=s.unknown_stations,
                               heartbeat_interval=s.heartbeat_interval_s, pending_interval=s.pending_retry_interval_s)
        self.materializer = StateMaterializer(self.state, s.kafka, self.topics, self.codec)
        self._tasks = [
            asyncio.create_task(self.materializer.run(self.stop_event), name="edge-state"),
            asyncio.create_task(self.publisher.drain_forever(self.stop_event), name="edge-spool-drain"),
            asyncio.create_task(self._housekeeping(), name="edge-housekeeping"),
        ]
        p.warm_up()
        self.health = HealthServer(s.http_host, s.http_port, self.metrics.registry, ready=self.ready)
        await self.health.start()
        ready = asyncio.ensure_future(self.materializer.ready.wait())
        await asyncio.wait([ready, self._tasks[0]], timeout=120, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            await self.stop()
            failed = self._tasks[0].exception() if self._tasks[0].done() else None
            raise RuntimeError(f"edge state not caught up: {failed!r}")
        self._server = await serve(
            self.handle, s.host, s.port, subprotocols=[Subprotocol(x) for x in SUBPROTOCOLS],
            select_subprotocol=self._select,
            process_request=self._process_request, compression=None, max_size=s.max_frame_bytes,
            ping_interval=s.ping_interval_s, ping_timeout=s.ping_timeout_s, max_queue=4,
            reuse_port=s.reuse_port or None, server_header="csms-edge",
        )
        if s.port == 0:
            self.settings.port = next(iter(self._server.sockets)).getsockname()[1]
        gc.collect()
        gc.freeze()
        log.info("edge listening", port=self.settings.port, http_port=self.health.port, edge_id=s.edge_id)

    def ready(self) -> bool:
        return self.state.caught_up and self._server is not None

    async def stop(self) -> None:
        self.stop_event.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.producer.stop()
        self.spool.close()
        await self.health.stop()

    async def _housekeeping(self) -> None:
        """Freeze the GC after connection bursts (full collections of a big heap pause for ~0.5 s)."""
        while not self.stop_event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), 5)
            self.metrics.spool_pending.set(self.spool.count)
            if len(self.sessions) - self._connections_at_freeze > 500:
                gc.freeze()
                self._connections_at_freeze = len(self.sessions)

    # -- upgrade ---------------------------------------------------------------------------------------------
    def _refuse(self, connection: ServerConnection, status: HTTPStatus, reason: str, why: str, **fields: Any
                ) -> Response:
        self.metrics.refused.labels(why).inc()
        log.warning("upgrade refused", reason=reason, status=int(status), **fields)
        return connection.respond(status, reason + "\n")

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        station_id = station_from_path(request.path)
        remote = _remote(connection)
        if station_id is None:
            return self._refuse(connection, HTTPStatus.NOT_FOUND, "expected /ocpp/{station_id}", "path",
                                path=request.path[:200], remote=remote)
        if not STATION_ID.match(station_id):
            return self._refuse(connection, HTTPStatus.BAD_REQUEST,
                                "invalid station id: 1-48 characters of A-Z a-z 0-9 - . _ ~", "station_id",
                                station_id=station_id[:64], remote=remote)
        offered = offered_subprotocols(request.headers)
        if not any(sp in SUBPROTOCOLS for sp in offered):
            return self._refuse(connection, HTTPStatus.BAD_REQUEST,
                                "no supported OCPP subprotocol offered (ocpp1.6, ocpp2.0.1, ocpp2.1)", "subprotocol",
                                station_id=station_id, offered=offered[:5], remote=remote)
        if not self.ready():
            return self._refuse(connection, HTTPStatus.SERVICE_UNAVAILABLE, "edge starting", "not_ready")
        return None

    @staticmethod
    def _select(connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        for name in offered:  # the charger's order of preference
            if name in SUBPROTOCOLS:
                return name
        return None

    # -- connections -----------------------------------------------------------------------------------------
    async def handle(self, ws: ServerConnection) -> None:
        station_id = station_from_path(ws.request.path if ws.request else "") or ""
        version = ws.subprotocol or "ocpp1.6"
        conn = Connection(station_id, self.settings.edge_id, str(uuid.uuid4()), str(version), _remote(ws), 0)
        session = ChargePointSession(ws, conn, self)
        previous = self.sessions.get(station_id)
        self.sessions[station_id] = session
        if previous is not None:
            log.info("connection replaced", station_id=station_id)
            await previous.ws.close(1000, "replaced by a newer connection of the same station")
        self.metrics.connections.labels(version).inc()
        await self._connection_event(conn, "CONNECTED")
        try:
            await session.run()
        finally:
            self.metrics.connections.labels(version).dec()
            if self.sessions.get(station_id) is session:
                del self.sessions[station_id]
            await self._connection_event(conn, "DISCONNECTED", close_code=ws.close_code,
                                         close_reason=ws.close_reason)

    async def _connection_event(self, conn: Connection, kind: str, **extra: Any) -> None:
        value = connection_event(conn, kind, **extra)
        record = SpooledRecord(self.topics.name("ocpp.connections"), conn.station_id.encode(),
                               self.codec.encode(CONNECTION_EVENT, value),
                               tuple(self.codec.headers(CONNECTION_EVENT, value["event_id"])))
        await self.publisher.publish_durable([record])


def _remote(connection: ServerConnection) -> str | None:
    address = connection.remote_address
    if isinstance(address, tuple) and address:
        return f"{address[0]}:{address[1]}"
    return None

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
import ssl
import uuid
from http import HTTPStatus
from typing import Any

from aiokafka import AIOKafkaProducer
from multidict import CIMultiDict

from csms.http import HealthServer
from csms.kafka import make_producer
from csms.logs import get_logger
from ocpp_edge import protocol as p
from ocpp_edge._upgrade import Admit, Refuse, Request, UpgradeGate, WsOptions
from ocpp_edge.charge_point import AnswerCache, ChargePointSession
from ocpp_edge.commands import CommandRouter
from ocpp_edge.decide import Decider
from ocpp_edge.dispatch import CommandDispatcher
from ocpp_edge.metrics import EdgeMetrics
from ocpp_edge.publisher import Publisher
from ocpp_edge.security import GateConfig, Gatekeeper, peer_names, server_tls_context
from ocpp_edge.settings import EdgeSettings
from ocpp_edge.spool import Spool, SpooledRecord
from ocpp_edge.state import EdgeState, StateMaterializer
from ocpp_edge.translate import CONNECTION_EVENT, Connection, connection_event
from ocpp_edge.txids import TxIdAllocator
from schemas import AvroCodec, TopicCatalog, load_topics

log = get_logger(__name__)
SUBPROTOCOLS = ("ocpp2.1", "ocpp2.0.1", "ocpp1.6")
FREEZE_EVERY = 256  # upgrade requests between two gc.freeze() calls
STATION_ID = re.compile(r"^[A-Za-z0-9\-._~]{1,48}$")
PATH = re.compile(r"^/ocpp/([^/?#]*)/?(?:\?.*)?$")


def offered_subprotocols(headers: CIMultiDict[str]) -> list[str]:
    offered: list[str] = []
    for value in headers.getall("Sec-WebSocket-Protocol", ()):
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
        self._server: asyncio.Server | None = None
        self._tls_server: asyncio.Server | None = None
        self._upgrades: set[asyncio.Task[Any]] = set()
        self._serving: set[asyncio.Task[None]] = set()
        self._connections_since_freeze = 0
        self._gc_thresholds_before: tuple[int, int, int] | None = None
        self._spool_low, self._spool_since = 1 << 62, 0.0
        self._spool_stopping: asyncio.Future[None] | None = None
        self.gate = Gatekeeper(GateConfig(
            settings.unknown_station_profile, settings.auth_failure_burst, settings.auth_failure_per_s,
            settings.admission_rate_per_s, settings.admission_burst, settings.max_connections,
            settings.auth_cache_ttl_s, settings.auth_threads))

    # -- lifecycle ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        self.producer = self._new_producer()
        await self.producer.start()
        self.spool = Spool(s.spool_dir, s.edge_id)
        self.publisher = Publisher(self.producer, self.spool, durable_timeout=s.durable_timeout_s)
        self.txids = TxIdAllocator(self.producer, self.topics.name("edge.txid-leases"), self.codec,
                                   edge_id=s.edge_id, block_size=s.txid_block_size,
                                   state_file=s.spool_dir / f"{s.edge_id}.txids")
        await self.txids.ensure_reserve()
        self.decider = Decider(self.state, self.txids, unknown_stations=s.unknown_stations,
                               heartbeat_interval=s.heartbeat_interval_s, pending_interval=s.pending_retry_interval_s,
                               max_open_age_s=s.open_transaction_max_age_s)
        self.materializer = StateMaterializer(self.state, s.kafka, self.topics, self.codec)
        self.dispatcher = CommandDispatcher(self)
        self._tasks = [
            asyncio.create_task(self.materializer.run(self.stop_event), name="edge-state"),
            asyncio.create_task(self.publisher.drain_forever(self.stop_event), name="edge-spool-drain"),
            asyncio.create_task(self._housekeeping(), name="edge-housekeeping"),
            asyncio.create_task(self.dispatcher.run(self.stop_event), name="edge-commands"),
            asyncio.create_task(self.dispatcher.heartbeat_forever(self.stop_event), name="edge-presence"),
        ]
        p.warm_up()
        self.health = HealthServer(s.http_host, s.http_port, self.metrics.registry, ready=self.ready)
        await self.health.start()
        for waited, task in ((self.materializer.ready, self._tasks[0]), (self.dispatcher.ready, self._tasks[3])):
            ready = asyncio.ensure_future(waited.wait())
            await asyncio.wait([ready, task], timeout=120, return_when=asyncio.FIRST_COMPLETED)
            if not ready.done():
                ready.cancel()
                await self.stop()
                failed = task.exception() if task.done() else None
                raise RuntimeError(f"edge state not caught up: {failed!r}")
        self._server = await self._listen(s.port, None)
        if s.port == 0:
            self.settings.port = next(iter(self._server.sockets)).getsockname()[1]
        if s.tls_port is not None:
            if s.tls_cert_file is None or s.tls_key_file is None:
                raise RuntimeError("CSMS_EDGE_TLS_PORT needs CSMS_EDGE_TLS_CERT_FILE and CSMS_EDGE_TLS_KEY_FILE")
            context = server_tls_context(s.tls_cert_file, s.tls_key_file, s.tls_ca_file)
            self._tls_server = await self._listen(s.tls_port, context)
            if s.tls_port == 0:
                self.settings.tls_port = next(iter(self._tls_server.sockets)).getsockname()[1]
        gc.collect()
        gc.freeze()
        self._gc_thresholds_before = gc.get_threshold()
        gc.set_threshold(*s.gc_thresholds)
        self.metrics.watch_gc()
        log.info("edge listening", port=self.settings.port, http_port=self.health.port, edge_id=s.edge_id)

    async def _listen(self, port: int, context: ssl.SSLContext | None) -> asyncio.Server:
        """A picows listener behind the upgrade gate (ocpp_edge/_upgrade.py); TLS is the event loop's."""
        s = self.settings
        options = WsOptions(s.max_frame_bytes, s.ping_interval_s, s.ping_timeout_s)
        return await asyncio.get_running_loop().create_server(
            lambda: UpgradeGate(self._upgrade, options, self._upgrades), s.host, port, ssl=context,
            reuse_port=s.reuse_port or None, backlog=s.listen_backlog)

    def ready(self) -> bool:
        return self.state.caught_up and self.dispatcher.ready.is_set() and self._server is not None

    async def stop(self) -> None:
        self.stop_event.set()
        self.metrics.unwatch_gc()
        if self._gc_thresholds_before is not None:  # the thresholds are process-wide: leave them as found
            gc.set_threshold(*self._gc_thresholds_before)
            self._gc_thresholds_before = None
        for server in (self._server, self._tls_server):
            if server is not None:
                server.close()
        for session in list(self.sessions.values()):
            session.close(1001, "edge stopping")
        if self._serving:
            await asyncio.wait(self._serving, timeout=self.settings.close_timeout_s + 1)
        for server in (self._server, self._tls_server):
            if server is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(server.wait_closed(), 1)
        self.gate.close()
        await self.dispatcher.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.producer.stop()
        self.spool.close()
        await self.health.stop()

    async def _housekeeping(self) -> None:
        while not self.stop_event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), 1)
            self.metrics.spool_pending.set(self.spool.count)
            await self._revive_producer()

    def _new_producer(self) -> AIOKafkaProducer:
        """The edge's producer. Its request timeout is long on purpose: a charger waits `durable_timeout_s` at
        most (then its records are spooled), but a produce request that times out inside aiokafka while the
        broker is only slow leaves a gap in the idempotent sequence, and every later batch then fails with
        OutOfOrderSequenceNumber (seen in reconnect storms with a 3 s timeout)."""
        s = self.settings
        return make_producer(s.kafka, client_id=f"edge-{s.edge_id}", linger_ms=2,
                             request_timeout_ms=max(30_000, int(s.durable_timeout_s * 1000)))

    async def _revive_producer(self) -> None:
        """Replace the producer when the spool has not shrunk for 10 s although a new producer can connect.
        aiokafka's idempotent producer can come back from a broker outage poisoned (every batch then fails with
        OutOfOrderSequenceNumber, so the spool never drains); a new producer gets a new producer id."""
        loop = asyncio.get_running_loop()
        if self.spool.count == 0 or self.spool.count < self._spool_low:
            self._spool_low, self._spool_since = self.spool.count or 1 << 62, loop.time()
            return
        if loop.time() - self._spool_since < 10:
            return
        self._spool_since = loop.time()
        fresh = self._new_producer()
        try:
            await asyncio.wait_for(fresh.start(), 5)
        except Exception:  # still no broker: keep waiting with the old producer
            with contextlib.suppress(Exception):
                await fresh.stop()
            return
        log.warning("spool not draining although Kafka answers; replacing the producer", spooled=self.spool.count)
        old, self.producer = self.producer, fresh
        self.publisher.producer = self.txids.producer = self.dispatcher.feed.producer = fresh
        self._spool_low = 1 << 62
        self._spool_stopping = asyncio.ensure_future(old.stop())  # in the background: it may hang on retries

    # -- upgrade ---------------------------------------------------------------------------------------------
    def _refuse(self, status: HTTPStatus, reason: str, why: str, **fields: Any) -> Refuse:
        self.metrics.refused.labels(why).inc()
        log.warning("upgrade refused", reason=reason, status=int(status), **fields)
        return Refuse(status, reason + "\n")

    async def _upgrade(self, request: Request, transport: asyncio.BaseTransport) -> Admit | Refuse:
        """The whole upgrade decision: path, station id, subprotocol, readiness, pacing, security profile."""
        self._freeze_now_and_then()  # counts upgrades, so handshakes in flight are frozen too, not only sessions
        remote = _remote(transport)
        refused = self._check_request(request, remote)
        if isinstance(refused, Refuse):
            return refused
        station_id, subprotocol = refused
        return await self._guard(request, transport, station_id, subprotocol, remote)

    async def _guard(self, request: Request, transport: asyncio.BaseTransport, station_id: str, subprotocol: str,
                     remote: str | None) -> Admit | Refuse:
        """Admission pacing, then the station's security profile (ocpp_edge/security.py)."""
        ssl_object = transport.get_extra_info("ssl_object")
        cert = ssl_object.getpeercert() if ssl_object is not None else None
        refusal = self.gate.pace(len(self.sessions))
        profile = -1
        if refusal is None:
            profile, refusal = await self.gate.check(
                station_id, self.state.station(station_id), host=_host(transport), tls=ssl_object is not None,
                client_names=peer_names(cert), authorization=request.headers.get("Authorization"))
        if refusal is None:
            if transport.is_closing():
                return Refuse(HTTPStatus.BAD_REQUEST, "gone\n")  # the charger left while we checked
            conn = Connection(station_id, self.settings.edge_id, str(uuid.uuid4()), subprotocol, remote, profile)
            return Admit(ChargePointSession(conn, self), subprotocol)
        response = self._refuse(refusal.status, refusal.reason, refusal.why, station_id=station_id, remote=remote,
                                tls=ssl_object is not None)
        if refusal.challenge:
            response.headers["WWW-Authenticate"] = 'Basic realm="ocpp", charset="UTF-8"'
        if refusal.retry_after is not None:
            response.headers["Retry-After"] = str(refusal.retry_after)
        return response

    def _check_request(self, request: Request, remote: str | None) -> Refuse | tuple[str, str]:
        """(station id, chosen subprotocol), or how to refuse. The subprotocol is the first of the charger's own
        list that we support (its order of preference)."""
        if request.method != "GET":
            return self._refuse(HTTPStatus.METHOD_NOT_ALLOWED, "a WebSocket upgrade is a GET", "method",
                                remote=remote)
        station_id = station_from_path(request.path)
        if station_id is None:
            return self._refuse(HTTPStatus.NOT_FOUND, "expected /ocpp/{station_id}", "path",
                                path=request.path[:200], remote=remote)
        if not STATION_ID.match(station_id):
            return self._refuse(HTTPStatus.BAD_REQUEST,
                                "invalid station id: 1-48 characters of A-Z a-z 0-9 - . _ ~", "station_id",
                                station_id=station_id[:64], remote=remote)
        offered = offered_subprotocols(request.headers)
        chosen = next((sp for sp in offered if sp in SUBPROTOCOLS), None)
        if chosen is None:
            return self._refuse(HTTPStatus.BAD_REQUEST,
                                "no supported OCPP subprotocol offered (ocpp1.6, ocpp2.0.1, ocpp2.1)", "subprotocol",
                                station_id=station_id, offered=offered[:5], remote=remote)
        if not self.ready():
            return self._refuse(HTTPStatus.SERVICE_UNAVAILABLE, "edge starting", "not_ready")
        return station_id, chosen

    # -- connections -----------------------------------------------------------------------------------------
    def opened(self, session: ChargePointSession) -> None:
        """picows finished the handshake of an admitted session: serve it (one task per connection)."""
        task = asyncio.ensure_future(self._serve(session))
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)

    async def _serve(self, session: ChargePointSession) -> None:
        conn = session.conn
        station_id, version = conn.station_id, conn.ocpp_version
        previous = self.sessions.get(station_id)
        self.sessions[station_id] = session
        if previous is not None:
            log.info("connection replaced", station_id=station_id)
            # not awaited: a half-open old socket must not hold the new one for the whole close timeout
            previous.close(1000, "replaced by a newer connection of the same station")
        self.metrics.connections.labels(version).inc()
        try:
            await self._connection_event(conn, "CONNECTED")
            self.dispatcher.connected(session)
            await session.run()
        finally:
            self.metrics.connections.labels(version).dec()
            if self.sessions.get(station_id) is session:
                del self.sessions[station_id]
            self.dispatcher.disconnected(session)
            await self._connection_event(conn, "DISCONNECTED", close_code=session.close_code,
                                         close_reason=session.close_reason)

    def _freeze_now_and_then(self) -> None:
        """gc.freeze() after every FREEZE_EVERY upgrade requests (it is O(1)): a collection never scans frozen
        objects, so the collections of a storm stay small; without it a full collection of a 10,000-connection heap
        takes 0.3-0.5 s (issue 4: no pause over 100 ms). The price: cyclic garbage of a connection frozen before it
        closed is not reclaimed (see docs/architecture.md)."""
        self._connections_since_freeze += 1
        if self._connections_since_freeze >= FREEZE_EVERY:
            gc.freeze()
            self._connections_since_freeze = 0

    async def _connection_event(self, conn: Connection, kind: str, **extra: Any) -> None:
        value = connection_event(conn, kind, **extra)
        record = SpooledRecord(self.topics.name("ocpp.connections"), conn.station_id.encode(),
                               self.codec.encode(CONNECTION_EVENT, value),
                               tuple(self.codec.headers(CONNECTION_EVENT, value["event_id"])))
        await self.publisher.publish_durable([record])


def _host(transport: asyncio.BaseTransport) -> str:
    address = transport.get_extra_info("peername")
    return str(address[0]) if isinstance(address, tuple) and address else "?"


def _remote(transport: asyncio.BaseTransport) -> str | None:
    address = transport.get_extra_info("peername")
    if isinstance(address, tuple) and address:
        return f"{address[0]}:{address[1]}"
    return None

"""Commands to chargers across several edges (DESIGN.md decision 7; docs/architecture.md, "Commands to chargers
and several edges").

Every edge reads all of `ocpp.commands` (from `command_lookback_s` ago), `edge.presence` and `edge.deliveries`
with one group-less consumer. For each command not yet DONE:

- the edge holding the charger's socket claims it in `edge.deliveries` and reads its own claim back: the first
  claim in the log wins, so at most one edge ever sends it; the winner validates it, sends the CALL through the
  CommandRouter (one call in flight per charger, FIFO), and publishes the outcome and then DONE;
- if no live edge holds the charger, the owner (rendezvous hash over live edges) claims it the same way once it
  is time to give up (`PendingCommand.gives_up`) and answers NOT_CONNECTED or EXPIRED;
- a charger that (re)connects anywhere gets the commands still pending for it, in order; a claim already won by
  another edge is never sent again;
- a command that the station's registration on its connection does not allow yet (`decide.may_send`: OCPP 1.6
  section 4.2, 2.x B02/B03) is neither sent nor dropped: it keeps its place at the head of the station's queue until
  the station is Accepted there or the command expires (EXPIRED, answered by the edge holding the socket).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from aiokafka import TopicPartition

from csms.logs import get_logger
from ocpp_edge import protocol as p
from ocpp_edge._command_log import (
    DELIVERIES,
    OUTCOMES,
    PRESENCE,
    CommandLog,
    delivery_value,
    outcome_value,
    presence_value,
    utc_now,
)
from ocpp_edge.decide import may_send
from ocpp_edge.presence import Deliveries, PendingCommand, Presence, edge_key, owner, station_key

if TYPE_CHECKING:
    from ocpp_edge.charge_point import ChargePointSession
    from ocpp_edge.server import Edge

log = get_logger(__name__)
Outcome = tuple[str, str | None, str | None, str | None]  # status, result json, error code, error description


def next_to_deliver(queue: Iterable[PendingCommand], now: datetime, *, free: Callable[[str], bool],
                    ours: Callable[[str], bool], permitted: Callable[[PendingCommand], bool]) -> PendingCommand | None:
    """The command a station's worker takes next from its queue (in publication order), or None to wait.

    The oldest free command goes if its charger may receive it now; if not, it keeps its place and nothing behind it
    is sent (OCPP 1.6 section 4.2, 2.x B02/B03 hold it back, order still holds). Expired commands are never sent,
    so they are answered (EXPIRED) wherever they stand. A command another edge claimed is skipped (docs: order
    across edges is per edge); one this edge claimed and did not finish (a release on its way) keeps its place.
    """
    blocked = False
    for command in queue:
        if not free(command.command_id):
            blocked = blocked or ours(command.command_id)
        elif command.expired(now) or (not blocked and permitted(command)):
            return command
        else:
            blocked = True
    return None


class CommandDispatcher:
    def __init__(self, edge: Edge) -> None:
        self.edge, self.me = edge, edge.settings.edge_id
        s = edge.settings
        self.presence, self.deliveries = Presence(), Deliveries()
        self.pending: dict[str, OrderedDict[str, PendingCommand]] = {}
        self.feed = CommandLog(s.kafka, edge.topics, edge.codec, edge.producer,
                               lookback=timedelta(seconds=s.command_lookback_s), send_timeout=s.durable_timeout_s)
        self.ready = self.feed.ready
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inflight: set[str] = set()
        self._stale = timedelta(seconds=3 * s.edge_heartbeat_s + 1)
        self._grace = timedelta(seconds=s.command_grace_s)

    async def run(self, stop: asyncio.Event) -> None:
        await self.feed.run(stop, self._apply)

    def _apply(self, logical: str, key: str, value: dict[str, Any] | None) -> None:
        if logical == PRESENCE:
            self.presence.apply(key, value)
            station_id = key.removeprefix("station/")
            if value is None and self.ready.is_set() and self._holds(station_id):
                self._spawn(self._publish_presence(self.edge.sessions[station_id], present=True))  # re-assert
            elif value is not None and value["edge_id"] == self.me:
                self._kick(station_id)
        elif logical == DELIVERIES:
            self.deliveries.apply(value, key)
            if value is not None and value["state"] == "DONE":
                self._drop(value["station_id"], key)
            elif value is not None and value["state"] == "RELEASED":
                self._kick(value["station_id"])
        elif value is not None and not self.deliveries.is_done(value["command_id"]):
            command = PendingCommand.from_event(value)
            self.pending.setdefault(command.station_id, OrderedDict())[command.command_id] = command
            self._kick(command.station_id)

    # -- connections -----------------------------------------------------------------------------------------
    def connected(self, session: ChargePointSession) -> None:
        self._spawn(self._publish_presence(session, present=True))
        self._kick(session.conn.station_id)

    def disconnected(self, session: ChargePointSession) -> None:
        """Tombstone the presence unless a newer connection (here or on another edge) already replaced it."""
        station_id = session.conn.station_id
        held = self.presence.holders.get(station_id)
        if station_id in self.edge.sessions or (held is not None and held.connection_id != session.conn.connection_id):
            return
        self._spawn(self._publish_presence(session, present=False))

    def _holds(self, station_id: str) -> bool:
        """This edge has an open socket of the station and no newer connection elsewhere is known."""
        session = self.edge.sessions.get(station_id)
        if session is None or not session.is_open:
            return False
        held = self.presence.holders.get(station_id)  # on this edge, the local table is the newest truth
        return held is None or held.edge_id == self.me or held.connection_id == session.conn.connection_id

    # -- delivering ------------------------------------------------------------------------------------------
    def _free(self, command_id: str) -> bool:
        return (command_id not in self._inflight and not self.deliveries.is_done(command_id)
                and self.deliveries.winner(command_id) is None)

    def _ours(self, command_id: str) -> bool:
        claim = self.deliveries.winner(command_id)
        return claim is not None and claim.edge_id == self.me

    def _permitted(self, session: ChargePointSession, command: PendingCommand) -> bool:
        """Whether the station's registration on this connection lets the command go now (decide.may_send). An
        action its version does not have passes: it is answered INVALID without being sent."""
        if command.action not in p.CSMS_INITIATED[session.version]:
            return True
        return may_send(session.version, self.edge.decider.registration_on(session.ctx), command.action)

    def _next(self, session: ChargePointSession) -> PendingCommand | None:
        queue = self.pending.get(session.conn.station_id)
        if not queue:
            return None
        return next_to_deliver(queue.values(), utc_now(), free=self._free, ours=self._ours,
                               permitted=lambda command: self._permitted(session, command))

    def _kick(self, station_id: str) -> None:
        """Start the station's worker if it has something to do now. A command waiting for the station's
        registration is looked at again by the sweep (every 0.25 s), so an Accepted BootNotification needs no hook
        in the charger's message path."""
        worker = self._workers.get(station_id)
        if self.ready.is_set() and self._holds(station_id) and (worker is None or worker.done()) and \
                self._next(self.edge.sessions[station_id]) is not None:
            self._workers[station_id] = asyncio.create_task(self._work(station_id), name=f"commands-{station_id}")

    async def _work(self, station_id: str) -> None:
        """Deliver the station's pending commands one at a time, in the order they were published."""
        while self._holds(station_id):
            session = self.edge.sessions[station_id]
            command = self._next(session)
            if command is None:
                return
            self._inflight.add(command.command_id)
            try:
                if not await self._deliver(session, command):
                    return
            except Exception:
                log.exception("command delivery failed", station_id=station_id, command_id=command.command_id)
                return
            finally:
                self._inflight.discard(command.command_id)

    async def _deliver(self, session: ChargePointSession, command: PendingCommand) -> bool:
        """Claim, send, publish the outcome; False to stop the worker (the claim could not be written, or the command
        was released unsent): the sweep or the release kicks it again."""
        expired = command.expired(utc_now())
        won = await self._claim(command, None if expired else session.conn.connection_id)
        if won is None:
            return False
        if not won:
            return True
        if expired:
            await self._finish(command, ("EXPIRED", None, None, "expired before its charger could take it"))
            return True
        outcome = await self._call(session, command)
        if outcome is None:  # not sent (socket closed, or the registration changed): free again, in its place
            await self.feed.send(DELIVERIES, command.command_id, self._delivery(command, "RELEASED"))
            return False
        await self._finish(command, outcome)
        return True

    async def _call(self, session: ChargePointSession, command: PendingCommand) -> Outcome | None:
        version = session.version
        try:
            payload = orjson.loads(command.payload_json)
            if command.action not in p.CSMS_INITIATED[version]:
                raise p.ProtocolViolation("NotImplemented", "-1", f"{command.action} is not sent by a CSMS in "
                                          f"{version}")
            p.validate_call(version, command.action, payload)
        except orjson.JSONDecodeError as exc:
            return "INVALID", None, "FormatViolation", f"payload_json is not JSON: {exc}"[:255]
        except p.ProtocolViolation as violation:
            return "INVALID", None, violation.code, violation.description
        # Checked again after the claim's round trip: a BootNotification answered meanwhile may have changed it.
        # The boot's answer is queued for publication in the same loop step that changes the registration, so a
        # CALL allowed by an Accepted boot reaches the charger after the BootNotification's answer.
        if not session.is_open or not self._permitted(session, command):
            return None
        call = asyncio.ensure_future(self.edge.commands.call(
            session, command.action, payload, timeout=self.edge.settings.command_timeout_s,
            command_id=command.command_id))
        closed = asyncio.ensure_future(session.wait_closed())
        await asyncio.wait({call, closed}, return_when=asyncio.FIRST_COMPLETED)
        closed.cancel()
        if not call.done():
            call.cancel()
            return "TIMEOUT", None, None, "connection closed before the charger answered"
        try:
            frame = call.result()
        except TimeoutError:
            return "TIMEOUT", None, None, f"no answer in {self.edge.settings.command_timeout_s:g} s"
        if isinstance(frame, p.CallResult):
            return "RESULT", orjson.dumps(frame.payload).decode(), None, None
        if isinstance(frame, p.CallError | p.CallResultError):
            return "CALLERROR", None, frame.error_code, frame.error_description
        return "UNKNOWN", None, None, f"unexpected reply {type(frame).__name__}"

    # -- the owner's duties ----------------------------------------------------------------------------------
    def sweep(self) -> None:
        """Answer for stations no live edge holds; finish claims of dead edges; release our own stale claims."""
        now = utc_now()
        alive = self.presence.alive(now, self._stale, self.me)
        timeout = timedelta(seconds=self.edge.settings.command_timeout_s + 10)
        for station_id, queue in list(self.pending.items()):
            if not queue:
                self.pending.pop(station_id, None)
                continue
            held_here = self._holds(station_id)
            holder = self.presence.holder(station_id, alive)
            answers = not held_here and (holder is None or holder.edge_id == self.me) and \
                owner(station_id, alive) == self.me
            for command in list(queue.values()):
                claim = self.deliveries.winner(command.command_id)
                if command.command_id in self._inflight:
                    continue
                if claim is not None and claim.edge_id == self.me and now - claim.at > self._stale:
                    self._spawn(self._release(command))  # ours, but nobody is working on it any more
                elif answers and claim is None and (status := command.gives_up(now, self._grace)) is not None:
                    self._spawn(self._resolve(command, status))
                elif answers and claim is not None and claim.edge_id not in alive and now - claim.at > timeout:
                    self._spawn(self._finish(command, ("TIMEOUT", None, None, f"edge {claim.edge_id} stopped")))
            if held_here:
                self._kick(station_id)

    async def _release(self, command: PendingCommand) -> None:
        self._inflight.add(command.command_id)
        try:
            await self.feed.send(DELIVERIES, command.command_id, self._delivery(command, "RELEASED"))
        finally:
            self._inflight.discard(command.command_id)

    async def _resolve(self, command: PendingCommand, status: str) -> None:
        self._inflight.add(command.command_id)
        try:
            if await self._claim(command, None):
                why = "no edge holds the charger's socket" if status == "NOT_CONNECTED" else "expired undelivered"
                await self._finish(command, (status, None, None, why))
        finally:
            self._inflight.discard(command.command_id)

    async def heartbeat_forever(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_beat = 0.0
        while not stop.is_set():
            if loop.time() >= next_beat:
                next_beat = loop.time() + self.edge.settings.edge_heartbeat_s
                beat = presence_value("EDGE", self.me)
                self._spawn(self.feed.send(PRESENCE, edge_key(self.me), beat))
            if self.ready.is_set():
                self.sweep()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.25)

    async def close(self) -> None:
        """Say this edge is gone (others take over its stations at once) and wait for our writes."""
        self._spawn(self.feed.send(PRESENCE, edge_key(self.me), None))
        for worker in self._workers.values():
            worker.cancel()
        tasks = self._tasks | set(self._workers.values())
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    # -- writing ---------------------------------------------------------------------------------------------
    async def _claim(self, command: PendingCommand, connection_id: str | None) -> bool | None:
        """Write a claim and read it back: True if ours is the first, None if it could not be written."""
        value = self._delivery(command, "CLAIMED", connection_id=connection_id)
        metadata = await self.feed.send(DELIVERIES, command.command_id, value)
        if metadata is None:
            return None
        if not await self.feed.wait_applied(TopicPartition(metadata.topic, metadata.partition), metadata.offset, 10):
            return None
        winner = self.deliveries.winner(command.command_id)
        return winner is not None and winner.event_id == value["event_id"]

    async def _finish(self, command: PendingCommand, outcome: Outcome) -> None:
        status, result_json, code, description = outcome
        value = outcome_value(command.command_id, command.station_id, command.action, self.me, status,
                              result_json=result_json, code=code, description=description)
        done = self._delivery(command, "DONE", status=status)
        await self.edge.publisher.publish_durable([self.feed.record(OUTCOMES, command.command_id, value),
                                                   self.feed.record(DELIVERIES, command.command_id, done)])
        self.deliveries.apply(done, command.command_id)
        self._drop(command.station_id, command.command_id)
        self.edge.metrics.command_outcomes.labels(status).inc()

    def _delivery(self, command: PendingCommand, state: str, *, status: str | None = None,
                  connection_id: str | None = None) -> dict[str, Any]:
        return delivery_value(command.command_id, command.station_id, self.me, state, status=status,
                              connection_id=connection_id)

    async def _publish_presence(self, session: ChargePointSession, *, present: bool) -> None:
        conn = session.conn
        value = presence_value("STATION", self.me, station_id=conn.station_id, connection_id=conn.connection_id,
                               version=conn.ocpp_version)
        await self.feed.send(PRESENCE, station_key(conn.station_id), value if present else None)

    def _drop(self, station_id: str, command_id: str) -> None:
        queue = self.pending.get(station_id)
        if queue is not None:
            queue.pop(command_id, None)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

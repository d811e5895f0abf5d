"""Answers to charger-initiated calls, decided from the materialised state only (DESIGN.md decision 3).

Pure apart from the transaction-id allocator and the in-memory table of transactions this edge has seen (used
for ConcurrentTx and for giving a retried 1.6 StartTransaction the same id).

ConcurrentTx: a token (not allowed concurrent sessions) starting a transaction while it has another one open,
either on this edge (seen here, at once) or on any edge (`auth.token-sessions`, the authorization processor's
view of every edge's answers, a fetch behind). A transaction this edge saw stopped is not counted even if that
view still lists it, and a listed one older than `max_open_age_s` is taken as abandoned (a charger that never
sent its stop): it stops blocking the token.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Final, Protocol

import orjson

from ocpp_edge.state import EdgeState

V16 = "ocpp1.6"
REGISTRATION = {"ACCEPTED": "Accepted", "PENDING": "Pending", "REJECTED": "Rejected", "DECOMMISSIONED": "Rejected"}
UNKNOWN_POLICY = {"accept": "Accepted", "pending": "Pending", "reject": "Rejected"}
# Generic answers of actions the CSMS accepts without a decision of its own; the honest status where one is
# required ("we do not sign certificates here" is Rejected/Failed, never a fake Accepted).
STATIC_ANSWERS: dict[str, dict[str, Any]] = {
    "DataTransfer": {"status": "UnknownVendorId"},
    "SignCertificate": {"status": "Rejected"},
    "Get15118EVCertificate": {"status": "Failed", "exiResponse": ""},
    "GetCertificateStatus": {"status": "Failed"},
    "NotifyEVChargingNeeds": {"status": "Accepted"},
    "NotifyEVChargingSchedule": {"status": "Accepted"},
    "OpenPeriodicEventStream": {"status": "Accepted"},
    "PullDynamicScheduleUpdate": {"status": "Rejected"},
}


# -- what the CSMS may send a station that is not Accepted (commands to chargers, ocpp_edge/dispatch.py) ---------
# OCPP 1.6 section 4.2: "The Central System MAY send request messages to retrieve information from the Charge Point or
# change its configuration" while Pending, and "While in pending state, the following Central System initiated
# messages are not allowed: RemoteStartTransaction.req and RemoteStopTransaction.req".
NOT_WHILE_PENDING_16: Final = frozenset({"RemoteStartTransaction", "RemoteStopTransaction"})
# OCPP 2.0.1 and 2.1 (the same text): B02.FR.01 lets the CSMS send, while Pending, the messages of B05
# (SetVariables), B06 (GetVariables), B07 (GetBaseReport) and B08 (GetReport). B02.FR.02, B02.FR.04 and B02.FR.09
# name TriggerMessageRequest (with GetBaseReport and GetReport) as the CSMS's way to make a not yet accepted station
# send a message, and F06.FR.17 says a BootNotification trigger is meant for exactly that time. Nothing else:
# B02.FR.05 "If the CSMS wants to use RequestStartTransaction etc. it SHALL first accept the Charging Station".
WHILE_PENDING_2X: Final = frozenset({"SetVariables", "GetVariables", "GetBaseReport", "GetReport", "TriggerMessage"})


def may_send(version: str, registration: str, action: str) -> bool:
    """Whether the CSMS may now send `action` to a station whose registration is `registration`."""
    if registration == "Accepted":
        return True
    if registration == "Pending":
        return action not in NOT_WHILE_PENDING_16 if version == V16 else action in WHILE_PENDING_2X
    # Rejected. 1.6 section 4.2: "While Rejected, the Charge Point SHALL NOT respond to any Central System initiated
    # message. the Central System SHOULD NOT initiate any." 2.x B03.FR.03: "The CSMS SHALL NOT initiate any
    # messages" (and B03.FR.08: the station answers SecurityError); neither text makes an exception.
    return False


# What a station that is not (yet) Accepted may send because the CSMS asked for it: B02.FR.09 answers only the
# messages the CSMS did not request with SecurityError; B02.FR.02 lets a Pending station send what a TriggerMessage,
# GetBaseReport or GetReport (B02.FR.01) asked for.
_TRIGGERED_ACTIONS: dict[str, str] = {
    "SignChargingStationCertificate": "SignCertificate", "SignV2GCertificate": "SignCertificate",
    "SignCombinedCertificate": "SignCertificate",
}


def solicited_by(action: str, payload: dict[str, Any]) -> frozenset[str]:
    """The charger messages that a CSMS call of `action` asks for (allowed before the station is Accepted)."""
    if action in ("GetBaseReport", "GetReport"):
        return frozenset({"NotifyReport"})
    if action == "GetMonitoringReport":
        return frozenset({"NotifyMonitoringReport"})
    if action in ("TriggerMessage", "ExtendedTriggerMessage"):
        requested = str(payload.get("requestedMessage", ""))
        return frozenset({_TRIGGERED_ACTIONS.get(requested, requested)})
    return frozenset()


class TxIds(Protocol):
    async def next_id(self) -> int: ...


def within_hours(windows_json: str, now: datetime) -> bool:
    """Whether `now` (UTC) falls in one of the driver's weekly windows; a window may run past midnight."""
    clock = now.astimezone(UTC).time()
    day = now.astimezone(UTC).isoweekday()
    for window in orjson.loads(windows_json):
        start, end = time.fromisoformat(window["start"]), time.fromisoformat(window["end"])
        days = window["days"]
        if start <= end:
            if day in days and start <= clock < end:
                return True
        elif (day in days and clock >= start) or ((day - 2) % 7 + 1 in days and clock < end):
            return True
    return False


def utc_now_text(now: datetime | None = None) -> str:
    """UTC with a Z suffix and milliseconds (some chargers reject +00:00)."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


@dataclass
class ConnectionContext:
    """Per-connection protocol state (no business state)."""

    station_id: str
    version: str
    registration: str | None = None  # the answer to the last BootNotification on this connection
    solicited: set[str] = field(default_factory=set)  # messages the CSMS asked for (solicited_by) on this connection


@dataclass
class Transactions:
    """Transactions this edge has started/seen and not yet stopped: for ConcurrentTx and retried starts."""

    by_token: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    recent_starts: OrderedDict[tuple[str, int, str, int, str], int] = field(default_factory=OrderedDict)
    recent_stops: OrderedDict[tuple[str, str], None] = field(default_factory=OrderedDict)

    def active_elsewhere(self, token: str, station_id: str, tx_id: str | None) -> bool:
        return any(key != (station_id, tx_id) for key in self.by_token.get(token, ()))

    def started(self, token: str, station_id: str, tx_id: str) -> None:
        self.by_token.setdefault(token, set()).add((station_id, tx_id))
        self.tokens[(station_id, tx_id)] = token

    def stopped(self, station_id: str, tx_id: str) -> None:
        self.recent_stops[(station_id, tx_id)] = None
        while len(self.recent_stops) > 10_000:
            self.recent_stops.popitem(last=False)
        token = self.tokens.pop((station_id, tx_id), None)
        if token is not None:
            keys = self.by_token.get(token, set())
            keys.discard((station_id, tx_id))
            if not keys:
                self.by_token.pop(token, None)


class Decider:
    def __init__(
        self, state: EdgeState, txids: TxIds, *, unknown_stations: str, heartbeat_interval: int, pending_interval: int,
        max_open_age_s: float = 86_400.0,
    ) -> None:
        self.state, self.txids = state, txids
        self.max_open_age = timedelta(seconds=max_open_age_s)
        self.unknown_policy = UNKNOWN_POLICY[unknown_stations]
        self.heartbeat_interval, self.pending_interval = heartbeat_interval, pending_interval
        self.transactions = Transactions()

    # -- registration --------------------------------------------------------------------------------------
    def registration(self, station_id: str) -> str:
        entry = self.state.station(station_id)
        if entry is None:
            return self.unknown_policy
        return REGISTRATION.get(entry["status"], "Rejected")

    def boot(self, ctx: ConnectionContext) -> dict[str, Any]:
        status = self.registration(ctx.station_id)
        entry = self.state.station(ctx.station_id)
        interval = self.heartbeat_interval
        if entry is not None and entry.get("heartbeat_interval_s"):
            interval = int(entry["heartbeat_interval_s"])
        if status != "Accepted":
            interval = self.pending_interval
        ctx.registration = status
        return {"status": status, "currentTime": utc_now_text(), "interval": interval}

    def accepted(self, ctx: ConnectionContext) -> bool:
        """2.x B02/B03: other messages only once the station is accepted: its last BootNotification on this
        connection was answered Accepted, or it has not booted on this connection and the registry accepts it. A
        station told Pending stays Pending (B02.FR.09) until its next BootNotification, even if an operator accepts
        it in the registry meanwhile: the same view as the commands' rule (`registration_on`)."""
        return self.registration_on(ctx) == "Accepted"

    def registration_on(self, ctx: ConnectionContext) -> str:
        """What the station was told on this connection (its last BootNotification's answer), else the registry's
        status: a charger that reconnects without rebooting sends no BootNotification (1.6 section 4.2, 2.x B04)."""
        return ctx.registration or self.registration(ctx.station_id)

    # -- tokens --------------------------------------------------------------------------------------------
    def token_status(self, ctx: ConnectionContext, id_token: str, token_type: str | None) -> tuple[str, dict[str, Any]]:
        """(OCPP status, the token entry or {}) for a token at this station."""
        entry = self.state.token(id_token, token_type)
        if entry is None:
            return "Invalid", {}
        status = entry["status"]
        if status == "BLOCKED" or status == "LOST":
            return "Blocked", entry
        if status == "EXPIRED":
            return "Expired", entry
        if status != "ACTIVE":
            return "Invalid", entry
        expires = entry.get("expires_at")
        if expires is not None and expires <= datetime.now(UTC):
            return "Expired", entry
        allowed = entry.get("allowed_station_ids")
        if allowed is not None and ctx.station_id not in allowed:
            return ("Invalid" if ctx.version == V16 else "NotAtThisLocation"), entry
        locations = entry.get("allowed_location_ids")
        if locations is not None and (self.state.station(ctx.station_id) or {}).get("location_id") not in locations:
            return ("Invalid" if ctx.version == V16 else "NotAtThisLocation"), entry
        if entry.get("allowed_hours_json") and not within_hours(entry["allowed_hours_json"], datetime.now(UTC)):
            return ("Invalid" if ctx.version == V16 else "NotAtThisTime"), entry
        return "Accepted", entry

    def id_tag_info(self, ctx: ConnectionContext, id_tag: str, status: str | None = None) -> dict[str, Any]:
        """1.6 IdTagInfo."""
        found_status, entry = self.token_status(ctx, id_tag, None)
        info: dict[str, Any] = {"status": status or found_status}
        if entry.get("expires_at") is not None:
            info["expiryDate"] = utc_now_text(entry["expires_at"])
        if entry.get("group_id"):
            info["parentIdTag"] = entry["group_id"][:20]
        return info

    def id_token_info(
        self, ctx: ConnectionContext, id_token: dict[str, Any], status: str | None = None
    ) -> dict[str, Any]:
        """2.x IdTokenInfo."""
        found_status, entry = self.token_status(ctx, id_token["idToken"], id_token.get("type"))
        info: dict[str, Any] = {"status": status or found_status}
        if entry.get("expires_at") is not None:
            info["cacheExpiryDateTime"] = utc_now_text(entry["expires_at"])
        if entry.get("group_id"):
            info["groupIdToken"] = {"idToken": entry["group_id"][:36], "type": "Central"}
        return info

    def _concurrent(self, ctx: ConnectionContext, token_key: str, entry: dict[str, Any], tx_id: str | None) -> bool:
        if not entry or entry.get("allow_concurrent_sessions", False):
            return False
        return (self.transactions.active_elsewhere(token_key, ctx.station_id, tx_id)
                or self._open_on_any_edge(entry, ctx.station_id, tx_id))

    def _open_on_any_edge(self, entry: dict[str, Any], station_id: str, tx_id: str | None) -> bool:
        listed = self.state.token_sessions.get(f"{entry['token_type']}:{entry['id_token']}")
        if listed is None:
            return False
        horizon = datetime.now(UTC) - self.max_open_age
        this = (station_id, tx_id)
        for open_tx in listed["sessions"]:
            key = (open_tx["station_id"], open_tx["transaction_id"])
            if key != this and key not in self.transactions.recent_stops and open_tx["started_at"] >= horizon:
                return True
        return False

    # -- actions -------------------------------------------------------------------------------------------
    def authorize(self, ctx: ConnectionContext, payload: dict[str, Any]) -> dict[str, Any]:
        if ctx.version == V16:
            return {"idTagInfo": self.id_tag_info(ctx, payload["idTag"])}
        return {"idTokenInfo": self.id_token_info(ctx, payload["idToken"])}

    async def start_transaction(self, ctx: ConnectionContext, payload: dict[str, Any]) -> dict[str, Any]:
        """1.6: always a transactionId (even for a bad idTag); a retried start gets the same id."""
        id_tag = payload["idTag"]
        retry_key = (
            ctx.station_id,
            int(payload["connectorId"]),
            id_tag,
            int(payload["meterStart"]),
            str(payload["timestamp"]),
        )
        tx_id = self.transactions.recent_starts.get(retry_key)
        if tx_id is None:
            tx_id = await self.txids.next_id()
            self.transactions.recent_starts[retry_key] = tx_id
            while len(self.transactions.recent_starts) > 10_000:
                self.transactions.recent_starts.popitem(last=False)
        status, entry = self.token_status(ctx, id_tag, None)
        if status == "Accepted" and self._concurrent(ctx, id_tag, entry, str(tx_id)):
            status = "ConcurrentTx"
        if status == "Accepted":
            self.transactions.started(id_tag, ctx.station_id, str(tx_id))
        return {"transactionId": tx_id, "idTagInfo": self.id_tag_info(ctx, id_tag, status)}

    def stop_transaction(self, ctx: ConnectionContext, payload: dict[str, Any]) -> dict[str, Any]:
        """1.6: a normal answer even for an unknown or already-stopped transaction."""
        self.transactions.stopped(ctx.station_id, str(payload["transactionId"]))
        if "idTag" in payload:
            return {"idTagInfo": self.id_tag_info(ctx, payload["idTag"])}
        return {}

    def transaction_event(self, ctx: ConnectionContext, payload: dict[str, Any]) -> dict[str, Any]:
        tx_id = payload["transactionInfo"]["transactionId"]
        event_type = payload["eventType"]
        answer: dict[str, Any] = {}
        id_token = payload.get("idToken")
        if id_token is not None:
            status, entry = self.token_status(ctx, id_token["idToken"], id_token.get("type"))
            token_key = f"{id_token.get('type')}:{id_token['idToken']}"
            if status == "Accepted" and event_type == "Started" and self._concurrent(ctx, token_key, entry, tx_id):
                status = "ConcurrentTx"
            if status == "Accepted" and event_type != "Ended":
                self.transactions.started(token_key, ctx.station_id, tx_id)
            answer["idTokenInfo"] = self.id_token_info(ctx, id_token, status)
        if event_type == "Ended":
            self.transactions.stopped(ctx.station_id, tx_id)
        return answer

    async def answer(self, ctx: ConnectionContext, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The CALLRESULT payload for a validated charger CALL."""
        if action == "BootNotification":
            return self.boot(ctx)
        if action == "Heartbeat":
            return {"currentTime": utc_now_text()}
        if action == "Authorize":
            return self.authorize(ctx, payload)
        if action == "StartTransaction":
            return await self.start_transaction(ctx, payload)
        if action == "StopTransaction":
            return self.stop_transaction(ctx, payload)
        if action == "TransactionEvent":
            return self.transaction_event(ctx, payload)
        if action == "GetCertificateChainStatus":  # no OCSP/CRL responder here: every status is Failed
            return {"certificateStatus": [
                {"certificateHashData": item["certificateHashData"], "source": item["source"], "status": "Failed",
                 "nextUpdate": utc_now_text()} for item in payload["certificateStatusRequests"]]}
        if action == "VatNumberValidation":
            return {"vatNumber": payload["vatNumber"], "status": "Rejected"}
        return dict(STATIC_ANSWERS.get(action, {}))

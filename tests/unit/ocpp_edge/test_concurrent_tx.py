"""ConcurrentTx: a token not allowed concurrent sessions that already has a transaction open, on this edge or on
any edge (`auth.token-sessions`), gets ConcurrentTx on its next start; its other answers are unchanged."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from ocpp_edge.decide import ConnectionContext, Decider
from ocpp_edge.state import EdgeState

V16, V201 = "ocpp1.6", "ocpp2.0.1"
CARD = {"id_token": "04A2B3C4", "token_type": "ISO14443", "status": "ACTIVE", "allow_concurrent_sessions": False}


class _Ids:
    def __init__(self) -> None:
        self._next = itertools.count(100)

    async def next_id(self) -> int:
        return next(self._next)


def edge(*, card: dict | None = None, max_age: float = 3600) -> Decider:
    state = EdgeState()
    state.apply("auth.tokens", "ISO14443:04A2B3C4", card or CARD)
    return Decider(state, _Ids(), unknown_stations="accept", heartbeat_interval=300, pending_interval=60,
                   max_open_age_s=max_age)


def open_elsewhere(decider: Decider, *open_txs: tuple[str, str, datetime]) -> None:
    """What the authorization processor published: the card's open transactions on any edge."""
    decider.state.apply("auth.token-sessions", "ISO14443:04A2B3C4", {
        "token_key": "ISO14443:04A2B3C4", "updated_at": datetime.now(UTC),
        "sessions": [{"station_id": s, "transaction_id": t, "started_at": at} for s, t, at in open_txs]})


def start16(station: str, meter: int = 0) -> tuple[ConnectionContext, dict]:
    return ConnectionContext(station, V16), {"connectorId": 1, "idTag": "04A2B3C4", "meterStart": meter,
                                             "timestamp": "2026-03-01T08:00:00Z"}


def started201(tx: str, kind: str = "Started") -> dict:
    return {"eventType": kind, "timestamp": "2026-03-01T08:00:00Z", "triggerReason": "Authorized", "seqNo": 0,
            "transactionInfo": {"transactionId": tx}, "idToken": {"idToken": "04A2B3C4", "type": "ISO14443"}}


async def test_a_token_charging_on_this_edge_gets_concurrent_tx_elsewhere_until_it_stops():
    d = edge()
    first = await d.start_transaction(*start16("CS-1"))
    assert first["idTagInfo"]["status"] == "Accepted"
    assert (await d.start_transaction(*start16("CS-2")))["idTagInfo"]["status"] == "ConcurrentTx"
    retry = await d.start_transaction(*start16("CS-1"))  # the same start again (lost answer): same id, Accepted
    assert retry == first
    d.stop_transaction(ConnectionContext("CS-1", V16), {"transactionId": first["transactionId"], "meterStop": 5,
                                                        "timestamp": "2026-03-01T09:00:00Z"})
    assert (await d.start_transaction(*start16("CS-2", 7)))["idTagInfo"]["status"] == "Accepted"


@pytest.mark.parametrize("version", [V16, V201])
async def test_a_token_charging_on_another_edge_gets_concurrent_tx(version):
    d = edge()
    open_elsewhere(d, ("CS-9", "tx-elsewhere", datetime.now(UTC) - timedelta(minutes=5)))
    if version == V16:
        answer = await d.start_transaction(*start16("CS-1"))
        assert answer["idTagInfo"]["status"] == "ConcurrentTx"
    else:
        answer = d.transaction_event(ConnectionContext("CS-1", V201), started201("tx-1"))
        assert answer["idTokenInfo"]["status"] == "ConcurrentTx"
    # Authorize is not a start: still Accepted
    assert d.authorize(ConnectionContext("CS-1", V16), {"idTag": "04A2B3C4"})["idTagInfo"]["status"] == "Accepted"


async def test_the_listed_transaction_itself_and_later_events_of_it_are_not_concurrent():
    d = edge()
    open_elsewhere(d, ("CS-1", "tx-1", datetime.now(UTC)))
    ctx = ConnectionContext("CS-1", V201)
    assert d.transaction_event(ctx, started201("tx-1"))["idTokenInfo"]["status"] == "Accepted"
    assert d.transaction_event(ctx, started201("tx-1", "Updated"))["idTokenInfo"]["status"] == "Accepted"


async def test_a_stop_seen_here_overrides_a_listing_that_is_behind_and_old_listings_are_abandoned():
    d = edge(max_age=3600)
    now = datetime.now(UTC)
    open_elsewhere(d, ("CS-2", "tx-2", now - timedelta(minutes=1)), ("CS-3", "tx-3", now - timedelta(hours=2)))
    assert d.transaction_event(ConnectionContext("CS-1", V201), started201("tx-1"))["idTokenInfo"]["status"] == (
        "ConcurrentTx")
    d.transaction_event(ConnectionContext("CS-2", V201), started201("tx-2", "Ended"))
    # tx-2 stopped here (the processor has not published it yet); tx-3 is older than the limit: abandoned
    assert d.transaction_event(ConnectionContext("CS-1", V201), started201("tx-4"))["idTokenInfo"]["status"] == (
        "Accepted")


async def test_tokens_allowed_concurrent_sessions_and_tombstones():
    d = edge(card={**CARD, "allow_concurrent_sessions": True})
    open_elsewhere(d, ("CS-9", "tx-9", datetime.now(UTC)))
    assert (await d.start_transaction(*start16("CS-1")))["idTagInfo"]["status"] == "Accepted"
    d = edge()
    open_elsewhere(d, ("CS-9", "tx-9", datetime.now(UTC)))
    d.state.apply("auth.token-sessions", "ISO14443:04A2B3C4", None)  # closed: the processor's tombstone
    assert (await d.start_transaction(*start16("CS-1")))["idTagInfo"]["status"] == "Accepted"

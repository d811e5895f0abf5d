"""Authorization records: every decision the edge made, from its answers on `ocpp.messages`.

Batch handler for `csms.ocpp.OcppMessage`: frames other than the edge's CALLRESULTs to Authorize,
StartTransaction, StopTransaction and TransactionEvent are skipped before any JSON is parsed; the answers left are
parsed once, then recorded here and applied to the open transactions per token (token_sessions.py). Each decision
is stored once (keyed by the answer's event id) against the token and its driver at that moment, and published as
AuthorizationRecorded.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from processors.authorization.domain import Decision, decision_of
from processors.authorization.token_sessions import track_sessions
from processors.runtime import Event, OcppExchange, UnitOfWork, exchange

DECISION_ACTIONS = frozenset({"Authorize", "StartTransaction", "StopTransaction", "TransactionEvent"})
RECORDS_TOPIC = "auth.authorizations"
RECORD_SCHEMA = "csms.authorization.AuthorizationRecorded"

_INSERT = sa.text(
    """
    insert into authorizations (source_event_id, station_id, token_key, id_token, token_type, driver_id, action,
                                outcome, transaction_id, decided_at)
    select x.e, x.s, x.k, x.i, x.t, tok.driver_id, x.a, x.o, x.tx, x.at
    from unnest(cast(:e as text[]), cast(:s as text[]), cast(:k as text[]), cast(:i as text[]),
                cast(:t as text[]), cast(:a as text[]), cast(:o as text[]), cast(:tx as text[]),
                cast(:at as timestamptz[])) with ordinality as x(e, s, k, i, t, a, o, tx, at, n)
    left join id_tokens tok on tok.token_key = x.k
    order by x.n
    on conflict do nothing
    returning source_event_id, station_id, token_key, id_token, token_type, driver_id, action, outcome,
              transaction_id, decided_at
    """
)


async def on_answers(events: Sequence[Event], uow: UnitOfWork) -> None:
    """The batch handler: the edge's answers to the decision actions, each parsed once."""
    answers = [exchange(e) for e in events if (v := e.value) is not None and v["message_type"] == "CALLRESULT"
               and v["direction"] == "CSMS_TO_CHARGER" and v.get("action") in DECISION_ACTIONS]
    if answers:
        await record_decisions(answers, uow)
        await track_sessions(answers, uow)


async def record_decisions(answers: Sequence[OcppExchange], uow: UnitOfWork) -> None:
    """Store and publish the authorization decisions found in the edge's answers."""
    found: list[tuple[OcppExchange, str, Decision]] = []
    for ex in answers:
        assert ex.action is not None
        decision = decision_of(ex.action, ex.is_v16, ex.request or {}, ex.payload or {})
        if decision is not None:
            found.append((ex, ex.action, decision))
    if not found:
        return
    result = await uow.conn.execute(_INSERT, {
        "e": [e.event_id for e, _, _ in found], "s": [e.station_id for e, _, _ in found],
        "k": [d.token_key for _, _, d in found], "i": [d.id_token for _, _, d in found],
        "t": [d.token_type for _, _, d in found], "a": [a for _, a, _ in found],
        "o": [d.outcome for _, _, d in found], "tx": [d.transaction_id for _, _, d in found],
        "at": [e.received_at for e, _, _ in found],
    })
    for row in result:
        uow.emit(RECORDS_TOPIC, row.station_id, RECORD_SCHEMA, {
            "station_id": row.station_id, "token_key": row.token_key, "id_token": row.id_token,
            "token_type": row.token_type, "driver_id": row.driver_id, "action": row.action, "outcome": row.outcome,
            "transaction_id": row.transaction_id, "source_event_id": row.source_event_id,
            "decided_at": row.decided_at})

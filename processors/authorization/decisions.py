"""Authorization records: every decision the edge made, from its answers on `ocpp.messages`.

Batch handler for `csms.ocpp.OcppMessage`: frames other than the edge's CALLRESULTs to Authorize,
StartTransaction, StopTransaction and TransactionEvent are skipped before any JSON is parsed. Each decision is
stored once (keyed by the answer's event id) against the token and its driver at that moment, and published as
AuthorizationRecorded.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from processors.authorization.domain import Decision, decision_of
from processors.runtime import Event, UnitOfWork, exchange

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


async def record_decisions(events: Sequence[Event], uow: UnitOfWork) -> None:
    """Store and publish the authorization decisions found in a run of OcppMessage events."""
    found: list[tuple[Event, str, Decision]] = []
    for event in events:
        v = event.value
        if (v is None or v["message_type"] != "CALLRESULT" or v["direction"] != "CSMS_TO_CHARGER"
                or v.get("action") not in DECISION_ACTIONS):
            continue
        ex = exchange(event)
        assert ex.action is not None
        decision = decision_of(ex.action, ex.is_v16, ex.request or {}, ex.payload or {})
        if decision is not None:
            found.append((event, ex.action, decision))
    if not found:
        return
    result = await uow.conn.execute(_INSERT, {
        "e": [e.event_id for e, _, _ in found], "s": [e.value["station_id"] for e, _, _ in found if e.value],
        "k": [d.token_key for _, _, d in found], "i": [d.id_token for _, _, d in found],
        "t": [d.token_type for _, _, d in found], "a": [a for _, a, _ in found],
        "o": [d.outcome for _, _, d in found], "tx": [d.transaction_id for _, _, d in found],
        "at": [e.value["received_at"] for e, _, _ in found if e.value],
    })
    for row in result:
        uow.emit(RECORDS_TOPIC, row.station_id, RECORD_SCHEMA, {
            "station_id": row.station_id, "token_key": row.token_key, "id_token": row.id_token,
            "token_type": row.token_type, "driver_id": row.driver_id, "action": row.action, "outcome": row.outcome,
            "transaction_id": row.transaction_id, "source_event_id": row.source_event_id,
            "decided_at": row.decided_at})

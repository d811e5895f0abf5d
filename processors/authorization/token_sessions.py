"""Open transactions per id token, from the edges' answers: the state behind ConcurrentTx across edges.

An edge accepting a 1.6 StartTransaction, or a 2.x TransactionEvent carrying an idToken it answered Accepted,
opens (station, transaction) for that token; a 1.6 StopTransaction or a 2.x TransactionEvent Ended closes it,
whatever token it carries. Every token whose open set changed gets its whole set published on the compacted
`auth.token-sessions` (a tombstone once empty), in the transaction that changed the rows. Each edge keeps its own
view too, so a token charging on the same edge is caught without waiting for this processor.

The token key is the `auth.tokens` key of the token the edge found: a 1.6 idTag has no type, so it resolves as
the edge resolves it (the exact type first, then ISO14443, then any token with that value).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from processors.authorization.domain import DEFAULT_V16_TYPE
from processors.runtime import OcppExchange, UnitOfWork

SESSIONS_TOPIC = "auth.token-sessions"
SESSIONS_SCHEMA = "csms.authorization.TokenSessions"

_OPEN = sa.text(
    """
    insert into token_sessions (station_id, transaction_id, token_key, started_at)
    select x.s, x.tx, coalesce(
               (select t.token_key from id_tokens t where t.id_token = x.i
                order by t.token_type = x.t desc, t.token_type = 'ISO14443' desc, t.token_key limit 1),
               x.t || ':' || x.i),
           x.at
    from unnest(cast(:s as text[]), cast(:tx as text[]), cast(:i as text[]), cast(:t as text[]),
                cast(:at as timestamptz[])) as x(s, tx, i, t, at)
    on conflict (station_id, transaction_id) do nothing
    returning token_key
    """
)
_CLOSE = sa.text(
    """
    delete from token_sessions s
    using unnest(cast(:s as text[]), cast(:tx as text[])) as x(s, tx)
    where s.station_id = x.s and s.transaction_id = x.tx
    returning s.token_key
    """
)
_OPEN_OF = sa.text(
    """
    select token_key, station_id, transaction_id, started_at from token_sessions
    where token_key = any(cast(:keys as text[])) order by token_key, started_at, station_id, transaction_id
    """
)

Opening = tuple[str, str, datetime]  # id token, token type, accepted at


def _change(ex: OcppExchange) -> tuple[tuple[str, str], Opening | None] | None:
    """((station, transaction), what opens it or None to close it) for one edge answer, if it changes either."""
    request, answer, station = ex.request or {}, ex.payload or {}, ex.station_id
    if ex.action == "StopTransaction":
        tx = request.get("transactionId")
        return None if tx is None else ((station, str(tx)), None)
    if ex.action == "StartTransaction":
        tx, tag = answer.get("transactionId"), request.get("idTag")
        status = (answer.get("idTagInfo") or {}).get("status")
        if tx is None or not isinstance(tag, str) or status != "Accepted":
            return None
        return (station, str(tx)), (tag, DEFAULT_V16_TYPE, ex.received_at)
    if ex.action != "TransactionEvent":
        return None
    tx = (request.get("transactionInfo") or {}).get("transactionId")
    if not isinstance(tx, str):
        return None
    if request.get("eventType") == "Ended":
        return (station, tx), None
    token, status = request.get("idToken"), (answer.get("idTokenInfo") or {}).get("status")
    if not isinstance(token, dict) or not isinstance(token.get("idToken"), str) or status != "Accepted":
        return None
    return (station, tx), (token["idToken"], str(token.get("type", "Central")), ex.received_at)


async def track_sessions(answers: Sequence[OcppExchange], uow: UnitOfWork) -> None:
    """Apply the edge's answers (in socket order) to `token_sessions`; publish the tokens whose open set changed."""
    final: dict[tuple[str, str], Opening | None] = {}
    for ex in answers:
        change = _change(ex)
        if change is not None:
            final[change[0]] = change[1]  # the last change of a transaction in the run wins (socket order)
    if not final:
        return
    closes = [key for key, opening in final.items() if opening is None]
    opens = [(key, opening) for key, opening in final.items() if opening is not None]
    touched: set[str] = set()
    if closes:
        rows = await uow.conn.execute(_CLOSE, {"s": [s for s, _ in closes], "tx": [t for _, t in closes]})
        touched.update(rows.scalars())
    if opens:
        rows = await uow.conn.execute(_OPEN, {
            "s": [k[0] for k, _ in opens], "tx": [k[1] for k, _ in opens], "i": [o[0] for _, o in opens],
            "t": [o[1] for _, o in opens], "at": [o[2] for _, o in opens]})
        touched.update(rows.scalars())
    if not touched:
        return
    keys = sorted(touched)
    open_now: dict[str, list[dict[str, object]]] = {}
    for row in await uow.conn.execute(_OPEN_OF, {"keys": keys}):
        open_now.setdefault(row.token_key, []).append(
            {"station_id": row.station_id, "transaction_id": row.transaction_id, "started_at": row.started_at})
    now = max(ex.received_at for ex in answers)
    for key in keys:
        sessions = open_now.get(key)
        uow.emit(SESSIONS_TOPIC, key, SESSIONS_SCHEMA,
                 None if not sessions else {"token_key": key, "sessions": sessions, "updated_at": now})


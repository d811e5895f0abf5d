"""The billing processor's handlers. Tables at the bottom (bound to their dependencies by bootstrap).

Hot path: `apply_ocpp_messages` is a batch handler for `csms.ocpp.OcppMessage`. It keeps only the edge's
CALLRESULTs of transaction messages (each carries the charger's request and the CSMS's answer), groups them by
session, loads each affected session once (row-locked; from the in-memory cache when its etag is current),
applies all of its inputs at once, and stores inputs and sessions with set-based SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from processors.billing import store
from processors.billing.charging import BillingDeps, commit_changes, load_records, tokens_of
from processors.billing.domain import TxInput, session_id_for
from processors.billing.session_store import InputRow, translate
from processors.runtime import Event, UnitOfWork

TRANSACTION_ACTIONS = frozenset({"StartTransaction", "MeterValues", "StopTransaction", "TransactionEvent"})


def _transaction_id(action: str, request: dict[str, Any], answer: dict[str, Any]) -> str | None:
    if action == "StartTransaction":
        return str(answer["transactionId"])
    if action == "TransactionEvent":
        return str(request["transactionInfo"]["transactionId"])
    raw = request.get("transactionId")
    return None if raw is None else str(raw)


def _token(action: str, request: dict[str, Any]) -> str | None:
    if action == "StartTransaction":
        return request.get("idTag")
    if action == "TransactionEvent":
        return (request.get("idToken") or {}).get("idToken")
    return None


async def apply_ocpp_messages(deps: BillingDeps, events: Sequence[Event], uow: UnitOfWork) -> None:
    """Apply a batch of ocpp.messages events to the charging sessions they belong to."""
    picked = []
    for event in events:
        v = event.value
        if (v is None or v["direction"] != "CSMS_TO_CHARGER" or v["message_type"] != "CALLRESULT"
                or v.get("action") not in TRANSACTION_ACTIONS or not v.get("request_payload_json")):
            continue
        request, answer = orjson.loads(v["request_payload_json"]), orjson.loads(v.get("payload_json") or "{}")
        tx_id = _transaction_id(v["action"], request, answer)
        if tx_id is not None:
            picked.append((event, v, tx_id, _token(v["action"], request), request, answer))
    if not picked:
        return
    tokens = {p[3] for p in picked if p[3]}
    drivers = await tokens_of(uow.conn, tokens) if tokens else {}
    rows: list[InputRow] = []
    inputs: dict[str, list[TxInput]] = {}
    wanted: dict[str, tuple[str, str, str]] = {}
    for event, v, tx_id, token, request, answer in picked:
        sid = session_id_for(v["station_id"], tx_id)
        row = InputRow(event.event_id, sid, v["station_id"], v["ocpp_version"], v["action"],
                       v["request_payload_json"], v.get("payload_json"), v["received_at"],
                       drivers.get(token or "", (None, None))[0])
        tx = translate(row, request, answer if v.get("payload_json") else None)
        if tx is None:
            continue
        rows.append(row)
        inputs.setdefault(sid, []).append(tx)
        wanted.setdefault(sid, (v["station_id"], tx_id, v["ocpp_version"]))
    records = await load_records(deps, uow.conn, wanted)
    for sid, txs in inputs.items():
        records[sid].session.apply_many(txs)
    await commit_changes(deps, uow, list(records.values()), rows)


async def remember_token(event: Event, uow: UnitOfWork) -> None:
    """auth.tokens -> billing_tokens (driver and group of an id token; a tombstone forgets it)."""
    v = event.value
    t = store.tokens
    if v is None:
        token = (event.key or "").split(":", 1)[-1]
        await uow.conn.execute(sa.delete(t).where(t.c.id_token == token))
        return
    values = {"id_token": v["id_token"], "driver_id": v.get("driver_id"), "group_id": v.get("group_id"),
              "version": v["version"]}
    stmt = insert(t).values(**values)
    await uow.conn.execute(stmt.on_conflict_do_update(
        index_elements=["id_token"], set_=values, where=sa.or_(t.c.version.is_(None), t.c.version <= v["version"])))


async def remember_station(event: Event, uow: UnitOfWork) -> None:
    """stations.registry -> billing_stations (operator and site of a station)."""
    v = event.value
    s = store.stations
    if v is None:
        await uow.conn.execute(sa.delete(s).where(s.c.station_id == (event.key or "")))
        return
    values = {"station_id": v["station_id"], "operator_id": v.get("operator_id"),
              "location_id": v.get("location_id"), "version": v["version"]}
    stmt = insert(s).values(**values)
    await uow.conn.execute(stmt.on_conflict_do_update(
        index_elements=["station_id"], set_=values, where=sa.or_(s.c.version.is_(None), s.c.version <= v["version"])))

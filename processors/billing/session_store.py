"""Sessions in the store: one input row per OCPP event (re-translated on restore), one state row per session.

A process keeps the sessions it works on in a `SessionCache`; every write gives the row a new `etag`, and a
batch locks its sessions' rows (`for update`, in id order) and reuses a cached session only when the etags
agree, so a rolled-back batch, the housekeeping task or another instance never leave a stale copy in use.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from processors.billing._rows import json_text as _json
from processors.billing.domain import (
    ChargingSession,
    CostBreakdown,
    CostComponent,
    Dimension,
    SessionFlag,
    TariffRef,
    TxEnded,
    TxInput,
    from_v2_transaction_event,
    from_v16_meter_values,
    from_v16_start,
    from_v16_stop,
    parse_timestamp,
)

STALE_CLOSED = "StaleClosed"


@dataclass(frozen=True)
class InputRow:
    """One stored input: the OCPP request and answer as published, enough to re-translate it."""

    event_id: str
    session_id: str
    station_id: str
    ocpp_version: str
    action: str
    request: str
    answer: str | None
    received_at: datetime
    driver_id: str | None


def to_input(row: InputRow) -> TxInput | None:
    """The domain input of a stored row (the translators are pure, so this is the input first applied)."""
    return translate(row, orjson.loads(row.request), orjson.loads(row.answer) if row.answer else None)


def translate(row: InputRow, request: dict[str, Any], answer: dict[str, Any] | None) -> TxInput | None:
    """`to_input` with the row's request and answer already parsed."""
    eid, station, at = row.event_id, row.station_id, row.received_at
    if row.action == "StartTransaction":
        return from_v16_start(request, answer or {}, event_id=eid, station_id=station, received_at=at,
                              driver_id=row.driver_id)
    if row.action == "MeterValues":
        return from_v16_meter_values(request, event_id=eid, station_id=station, received_at=at)
    if row.action == "StopTransaction":
        return from_v16_stop(request, event_id=eid, station_id=station, received_at=at)
    if row.action == "TransactionEvent":
        return from_v2_transaction_event(request, event_id=eid, station_id=station, received_at=at, answer=answer,
                                         driver_id=row.driver_id)
    if row.action == STALE_CLOSED:
        return TxEnded(event_id=eid, station_id=station, received_at=at, transaction_id=request["transaction_id"],
                       timestamp=parse_timestamp(request["timestamp"]), stop_reason="StaleClosed", synthetic=True)
    raise ValueError(f"unknown stored action {row.action!r}")


def stale_row(session: ChargingSession, tx: TxEnded, ocpp_version: str) -> InputRow:
    """The stored form of a synthetic stale-close input."""
    body = orjson.dumps({"transaction_id": tx.transaction_id, "timestamp": tx.timestamp.isoformat()}).decode()
    return InputRow(tx.event_id, session.session_id, tx.station_id, ocpp_version, STALE_CLOSED, body, None,
                    tx.received_at, None)


@dataclass
class SessionRecord:
    """A session and the columns that are not derived from its inputs."""

    session: ChargingSession
    ocpp_version: str
    operator_id: str
    etag: str | None = None  # None: not stored yet
    invoice_id: str | None = None
    wallet_entry_id: str | None = None
    updated_sent_at: datetime | None = None  # in memory only: throttles SessionUpdated notifications
    updated_status: str | None = None
    saved: tuple[Any, ...] | None = None  # in memory only: `_heavy(self)` as last written by this process



class SessionCache:
    """The sessions a process works on, least recently used first out."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, SessionRecord] = OrderedDict()

    def get(self, session_id: str, etag: str | None) -> SessionRecord | None:
        record = self._items.get(session_id)
        if record is None or record.etag != etag:
            return None
        self._items.move_to_end(session_id)
        return record

    def put(self, record: SessionRecord) -> None:
        if self.size <= 0 or record.session.state.ended:  # ended sessions rarely hear more: keep memory bounded
            self._items.pop(record.session.session_id, None)
            return
        self._items[record.session.session_id] = record
        self._items.move_to_end(record.session.session_id)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


def cost_to_json(cost: CostBreakdown) -> dict[str, Any]:
    """A cost breakdown as JSON (Decimals as strings)."""
    return {
        "tariff_id": cost.tariff.id, "tariff_version": cost.tariff.version, "currency": cost.currency,
        "components": [{"dimension": c.dimension.value, "element_index": c.element_index, "quantity": str(c.quantity),
                        "unit_price": str(c.unit_price), "amount": str(c.amount)} for c in cost.components],
        "subtotal": str(cost.subtotal), "discount_percent": str(cost.discount_percent),
        "discount": str(cost.discount), "total_excl_vat": str(cost.total_excl_vat),
        "vat_percent": str(cost.vat_percent), "vat": str(cost.vat), "total_incl_vat": str(cost.total_incl_vat),
        "priced_until": cost.priced_until.isoformat() if cost.priced_until else None,
    }


def cost_from_json(raw: Mapping[str, Any]) -> CostBreakdown:
    """The inverse of `cost_to_json`."""
    return CostBreakdown(
        tariff=TariffRef(raw["tariff_id"], int(raw["tariff_version"])), currency=raw["currency"],
        components=tuple(CostComponent(Dimension(c["dimension"]), int(c["element_index"]), Decimal(c["quantity"]),
                                       Decimal(c["unit_price"]), Decimal(c["amount"])) for c in raw["components"]),
        subtotal=Decimal(raw["subtotal"]), discount_percent=Decimal(raw["discount_percent"]),
        discount=Decimal(raw["discount"]), total_excl_vat=Decimal(raw["total_excl_vat"]),
        vat_percent=Decimal(raw["vat_percent"]), vat=Decimal(raw["vat"]), total_incl_vat=Decimal(raw["total_incl_vat"]),
        priced_until=parse_timestamp(raw["priced_until"]) if raw.get("priced_until") else None,
    )


# Id lists and row sets travel as ONE JSON text parameter (processors/billing/_rows.py): as 20 array parameters,
# asyncpg's per-element checks took ~50 us of a MeterValues' CPU.
_IDS = "any(array(select json_array_elements_text(cast(cast(:ids as text) as json))))"
_LOCK = sa.text(f"select session_id, etag from billing_sessions where session_id = {_IDS} "
                "order by session_id for update")
_INPUTS = sa.text(f"select * from billing_session_inputs where session_id = {_IDS}")
_ROWS = sa.text(f"select * from billing_sessions where session_id = {_IDS}")


async def lock_and_load(
    conn: AsyncConnection, cache: SessionCache, session_ids: Iterable[str]
) -> dict[str, SessionRecord]:
    """The stored sessions among `session_ids`, row-locked for this transaction (missing ones are new)."""
    ids = sorted(set(session_ids))
    etags = {r.session_id: r.etag for r in await conn.execute(_LOCK, {"ids": _json(ids)})}
    found: dict[str, SessionRecord] = {}
    reload = []
    for sid, etag in etags.items():
        record = cache.get(sid, etag)
        if record is None:
            reload.append(sid)
        else:
            found[sid] = record
    if reload:
        found.update(await _restore(conn, reload))
    return found


async def _restore(conn: AsyncConnection, ids: list[str]) -> dict[str, SessionRecord]:
    inputs: dict[str, list[TxInput]] = {}
    for r in await conn.execute(_INPUTS, {"ids": _json(ids)}):
        tx = to_input(InputRow(r.event_id, r.session_id, r.station_id, r.ocpp_version, r.action, r.request,
                               r.answer, r.received_at, r.driver_id))
        if tx is not None:
            inputs.setdefault(r.session_id, []).append(tx)
    out = {}
    for r in await conn.execute(_ROWS, {"ids": _json(ids)}):
        session = ChargingSession.restore(
            r.session_id, r.station_id, r.transaction_id, inputs.get(r.session_id, ()),
            external_flags={SessionFlag(k): v for k, v in r.external_flags.items()},
            tariff=TariffRef(r.tariff_id, r.tariff_version) if r.tariff_id else None,
            cost=cost_from_json(r.cost) if r.cost else None, billable=r.billable,
        )
        # saved=None: the first write of a restored session rewrites its whole row
        out[r.session_id] = SessionRecord(session, r.ocpp_version, r.operator_id, r.etag, r.invoice_id,
                                          r.wallet_entry_id)
    return out


_INPUT_TYPES = {"event_id": "text", "session_id": "text", "station_id": "text", "ocpp_version": "text",
                "action": "text", "request": "text", "answer": "text", "received_at": "timestamptz",
                "driver_id": "text"}
_INPUT_FIELDS = tuple(_INPUT_TYPES)
_INSERT_INPUTS = sa.text(
    f"insert into billing_session_inputs ({', '.join(_INPUT_FIELDS)}) "
    f"select {', '.join(_INPUT_FIELDS)} from json_to_recordset(cast(cast(:rows as text) as json)) "
    f"as x({', '.join(f'{c} {t}' for c, t in _INPUT_TYPES.items())}) "
    "on conflict (event_id) do nothing"
)


async def insert_inputs(conn: AsyncConnection, rows: Sequence[InputRow]) -> None:
    """Store inputs in one statement; an event_id seen before is ignored."""
    if rows:
        await conn.execute(_INSERT_INPUTS, {"rows": _json([{f: getattr(r, f) for f in _INPUT_FIELDS} for r in rows])})


_TEXT = ("session_id", "station_id", "transaction_id", "ocpp_version", "operator_id", "id_token", "driver_id",
         "status", "energy_source", "stop_reason", "tariff_id", "currency", "invoice_id", "wallet_entry_id", "etag")
_TIME = ("started_at", "start_received_at", "stopped_at", "stop_received_at", "idle_from", "last_meter_at",
         "last_received_at")
_NUM = ("meter_start_wh", "meter_stop_wh", "energy_wh", "total_incl_vat")
_OTHER = {"evse_id": "int", "connector_id": "int", "ended": "boolean", "billable": "boolean",
          "tariff_version": "bigint", "flags": "text", "notes": "jsonb", "external_flags": "jsonb", "cost": "jsonb"}
_TYPES = {**dict.fromkeys(_TEXT, "text"), **dict.fromkeys(_TIME, "timestamptz"),
          **dict.fromkeys(_NUM, "numeric"), **_OTHER}
_COLUMNS = tuple(_TYPES)
_SELECT = {c: f"x.{c}" for c in _COLUMNS} | {"flags": "string_to_array(x.flags, ',')"}


def _recordset(columns: Sequence[str]) -> str:
    return (f"json_to_recordset(cast(cast(:rows as text) as json)) "
            f"as x({', '.join(f'{c} {_TYPES[c]}' for c in columns)})")


_UPSERT = sa.text(
    f"insert into billing_sessions ({', '.join(_COLUMNS)}, updated_at) "
    f"select {', '.join(_SELECT[c] for c in _COLUMNS)}, now() from {_recordset(_COLUMNS)} "
    f"on conflict (session_id) do update set "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "session_id") + ", updated_at = now()"
)

# Meter progress changes only these columns; a session whose other columns are as this process last wrote them
# (`SessionRecord.saved`) gets a narrow update of these alone: no notes or cost to write, a third of the width.
_PROGRESS = ("session_id", "evse_id", "connector_id", "id_token", "driver_id", "status", "ended", "started_at",
             "start_received_at", "stopped_at", "stop_received_at", "meter_start_wh", "meter_stop_wh", "energy_wh",
             "energy_source", "stop_reason", "idle_from", "last_meter_at", "last_received_at", "etag")
_UPDATE_PROGRESS = sa.text(
    "update billing_sessions s set "
    + ", ".join(f"{c} = x.{c}" for c in _PROGRESS if c != "session_id") + ", updated_at = now() "
    f"from {_recordset(_PROGRESS)} where s.session_id = x.session_id"
)


def _heavy(record: SessionRecord) -> tuple[Any, ...]:
    """What the columns outside `_PROGRESS` are derived from (compared by identity first, so it is cheap)."""
    session = record.session
    return (session.state.notes, tuple(session.external_flags.items()), session.tariff, session.cost,
            session.billable, record.invoice_id, record.wallet_entry_id, record.operator_id, record.ocpp_version)


def _progress_row(record: SessionRecord) -> dict[str, Any]:
    session, state = record.session, record.session.state
    return {
        "session_id": session.session_id, "evse_id": state.evse_id, "connector_id": state.connector_id,
        "id_token": state.id_token, "driver_id": state.driver_id, "status": state.status.value,
        "ended": state.ended, "started_at": state.started_at, "start_received_at": state.start_received_at,
        "stopped_at": state.stopped_at, "stop_received_at": state.stop_received_at,
        "meter_start_wh": state.meter_start_wh, "meter_stop_wh": state.meter_stop_wh, "energy_wh": state.energy_wh,
        "energy_source": state.energy_source.value, "stop_reason": state.stop_reason, "idle_from": state.idle_from,
        "last_meter_at": state.last_meter_at, "last_received_at": session.last_received_at, "etag": record.etag,
    }


def _row(record: SessionRecord) -> dict[str, Any]:
    session, state = record.session, record.session.state
    cost = session.cost
    return {
        **_progress_row(record), "station_id": state.station_id, "transaction_id": state.transaction_id,
        "ocpp_version": record.ocpp_version, "operator_id": record.operator_id,
        "flags": ",".join(sorted(state.flags)),
        "notes": {k.value: v for k, v in state.notes},
        "external_flags": {k.value: v for k, v in session.external_flags.items()},
        "tariff_id": session.tariff.id if session.tariff else None,
        "tariff_version": session.tariff.version if session.tariff else None,
        "currency": cost.currency if cost else None,
        "cost": cost_to_json(cost) if cost else None,
        "total_incl_vat": cost.total_incl_vat if cost else None, "billable": session.billable,
        "invoice_id": record.invoice_id, "wallet_entry_id": record.wallet_entry_id,
    }


async def save_sessions(conn: AsyncConnection, records: Sequence[SessionRecord]) -> None:
    """Write the sessions' rows, each with a new etag: one upsert of whole rows for new sessions and for those
    whose flags, tariff, cost or settlement changed, one narrow update for those that only progressed."""
    full: list[SessionRecord] = []
    progress: list[SessionRecord] = []
    for record in records:
        heavy = _heavy(record)
        (progress if record.etag is not None and record.saved == heavy else full).append(record)
        record.etag, record.saved = uuid.uuid4().hex, heavy
    if full:
        await conn.execute(_UPSERT, {"rows": _json([_row(r) for r in full])})
    if progress:
        await conn.execute(_UPDATE_PROGRESS, {"rows": _json([_progress_row(r) for r in progress])})

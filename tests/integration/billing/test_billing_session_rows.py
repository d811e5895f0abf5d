"""A session's row in the store after each kind of write: whole row for a new session or a changed verdict,
narrow progress update for meter progress."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from processors.billing.bootstrap import MIGRATIONS
from processors.billing.domain import ChargingSession, MeterReading, TxMeter, TxStarted
from processors.billing.domain.meter import REGISTER
from processors.billing.session_store import SessionCache, SessionRecord, lock_and_load, save_sessions
from processors.billing.settings import BillingSettings
from processors.runtime import migrate
from processors.runtime.service import make_engine

pytestmark = pytest.mark.integration
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _meter(i: int, wh: int) -> TxMeter:
    at = T0 + timedelta(minutes=i)
    return TxMeter(event_id=f"m{i}", station_id="CS", transaction_id="7", timestamp=at, received_at=at,
                   readings=(MeterReading(at, REGISTER, Decimal(wh), "Wh"),))


async def test_progress_updates_narrowly_and_a_new_flag_rewrites_the_whole_row(fresh_database: str) -> None:
    await asyncio.to_thread(migrate.upgrade, fresh_database, MIGRATIONS)
    engine = make_engine(BillingSettings(database_url=fresh_database))
    session = ChargingSession("CS:7", "CS", "7")
    session.apply(TxStarted(event_id="s", station_id="CS", transaction_id="7", timestamp=T0, received_at=T0,
                            evse_id=1, connector_id=1, id_token="TAG", meter_start_wh=Decimal(100)))
    record = SessionRecord(session, "ocpp1.6", "OP")
    try:
        async def save_and_read() -> sa.Row[object]:
            async with engine.begin() as conn:
                await save_sessions(conn, [record])
                return (await conn.execute(sa.text("select * from billing_sessions"))).one()

        row = await save_and_read()  # new: the whole row
        assert (row.energy_wh, row.flags, row.status) == (0, [], "ACTIVE")
        session.apply(_meter(10, 2100))
        row = await save_and_read()  # progress only
        assert (row.energy_wh, row.last_meter_at, row.flags, row.etag) == (2000, T0 + timedelta(minutes=10), [],
                                                                          record.etag)
        session.apply(_meter(20, 1500))  # the register falls: a flag and a new status
        row = await save_and_read()
        assert row.flags == ["METER_REGRESSION"] and row.status == "DISPUTED"
        assert "METER_REGRESSION" in row.notes
        async with engine.begin() as conn:
            (restored,) = (await lock_and_load(conn, SessionCache(0), ["CS:7"])).values()
        assert restored.etag == record.etag
        assert restored.saved is None  # a restored session's first write is a whole row again
    finally:
        await engine.dispose()

"""Publishing token state and domain events, in the transaction that changed the rows (through the outbox).

`publish_token` bumps the token's version, writes its history row and emits its `auth.tokens` record: the
compacted state the edge answers Authorize from, exactly in step with the store. It also carries what billing
needs from a token (the owning driver's membership level, the budget caps), so a driver change that alters them
republishes every token of the driver.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa

from processors.authorization.domain import published_status
from processors.authorization.store import drivers, id_tokens, token_history
from processors.runtime import UnitOfWork

TOKENS_TOPIC = "auth.tokens"
TOKEN_SCHEMA = "csms.authorization.TokenState"
EVENTS_TOPIC = "auth.events"


async def publish_token(uow: UnitOfWork, key: str, at: datetime, *, action: str, reason: str | None = None,
                        command_id: str | None = None) -> int:
    """Bump, record and publish one token's state; return its new version."""
    bumped = await uow.conn.execute(sa.update(id_tokens).where(id_tokens.c.token_key == key)
                                    .values(version=id_tokens.c.version + 1).returning(id_tokens.c.version))
    version = int(bumped.scalar_one())
    row = (await uow.conn.execute(
        sa.select(id_tokens, drivers.c.status.label("driver_status"), drivers.c.allowed_station_ids,
                  drivers.c.allowed_location_ids, drivers.c.allowed_hours, drivers.c.membership_level)
        .select_from(id_tokens.outerjoin(drivers, drivers.c.id == id_tokens.c.driver_id))
        .where(id_tokens.c.token_key == key))).one()
    status = published_status(row.status, deleted=row.deleted_at is not None, driver_status=row.driver_status)
    await uow.conn.execute(sa.insert(token_history).values(
        token_key=key, version=version, action=action, status=row.status, published_status=status,
        driver_id=row.driver_id, reason=reason, command_id=command_id, at=at))
    uow.emit(TOKENS_TOPIC, key, TOKEN_SCHEMA, {
        "id_token": row.id_token, "token_type": row.token_type, "status": status, "expires_at": row.expires_at,
        "group_id": row.group_id, "driver_id": row.driver_id,
        "allow_concurrent_sessions": row.allow_concurrent_sessions,
        "allowed_station_ids": None if row.allowed_station_ids is None else list(row.allowed_station_ids),
        "allowed_location_ids": None if row.allowed_location_ids is None else list(row.allowed_location_ids),
        "allowed_hours_json": None if row.allowed_hours is None else orjson.dumps(row.allowed_hours).decode(),
        **_billing_terms(row), "version": version, "updated_at": at,
    })
    return version


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


def _billing_terms(row: Any) -> dict[str, Any]:
    """What billing reads from a token: the driver's membership level (discounts) and the budget caps."""
    return {
        "membership_level": row.membership_level,
        "cap_energy_wh_per_session": row.cap_energy_wh_per_session,
        "cap_energy_wh_per_month": row.cap_energy_wh_per_month,
        "cap_seconds_per_session": row.cap_seconds_per_session,
        "cap_seconds_per_month": row.cap_seconds_per_month,
        "cap_money_per_session": _money(row.cap_money_per_session),
        "cap_money_per_month": _money(row.cap_money_per_month),
        "cap_currency": row.cap_currency,
    }


async def publish_driver_tokens(uow: UnitOfWork, driver_id: str, at: datetime, *, action: str,
                                command_id: str | None) -> None:
    """Republish every live token of a driver (its status or permissions changed what the edge must answer)."""
    keys = (await uow.conn.execute(sa.select(id_tokens.c.token_key).where(
        id_tokens.c.driver_id == driver_id, id_tokens.c.deleted_at.is_(None)).order_by(id_tokens.c.token_key)
    )).scalars().all()
    for key in keys:
        await publish_token(uow, key, at, action=action, command_id=command_id)


def emit_event(uow: UnitOfWork, event_type: str, aggregate_id: str, value: Mapping[str, Any]) -> str:
    """Queue an authorization domain event (`csms.authorization.<event_type>`) on `auth.events`."""
    return uow.emit(EVENTS_TOPIC, aggregate_id, f"csms.authorization.{event_type}", value)

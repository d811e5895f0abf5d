"""Helpers shared by the authorization command modules (private)."""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic
import sqlalchemy as sa

from processors.authorization.domain import AuthorizationError
from processors.authorization.store import drivers, membership_levels
from processors.runtime import Command, CommandRejected, UnitOfWork

P = TypeVar("P", bound=pydantic.BaseModel)


def parse(model: type[P], command: Command) -> P:
    """The command's payload validated by `model`; INVALID with every problem named otherwise."""
    try:
        return model.model_validate(command.payload)
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in exc.errors())
        raise CommandRejected("INVALID", problems) from None


def rejected(exc: AuthorizationError) -> CommandRejected:
    return CommandRejected(exc.status, str(exc))


def aggregate(command: Command, in_payload: str | None, what: str) -> str:
    """The id a command is about: from the payload or the command's aggregate id (which must agree)."""
    if command.aggregate_id and in_payload and command.aggregate_id != in_payload:
        raise CommandRejected("INVALID", f"aggregate_id and payload {what} differ")
    value = in_payload or command.aggregate_id
    if not value:
        raise CommandRejected("INVALID", f"{what} is required")
    return value


async def live_driver(uow: UnitOfWork, driver_id: str) -> Any:
    """The driver row (locked), NOT_FOUND if absent or deleted."""
    row = (await uow.conn.execute(sa.select(drivers).where(drivers.c.id == driver_id).with_for_update())
           ).one_or_none()
    if row is None or row.deleted_at is not None:
        raise CommandRejected("NOT_FOUND", f"driver {driver_id!r} does not exist")
    return row


async def require_level(uow: UnitOfWork, level: str) -> None:
    found = await uow.conn.execute(sa.select(membership_levels.c.code).where(membership_levels.c.code == level))
    if found.one_or_none() is None:
        raise CommandRejected("NOT_FOUND", f"membership level {level!r} is not defined")

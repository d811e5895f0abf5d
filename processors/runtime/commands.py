"""Helpers for command handlers (DESIGN.md decision 7): read a `csms.common.Command`, answer with an outcome."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from processors.runtime.events import Event, UnitOfWork

OUTCOMES_TOPIC = "commands.outcomes"
OUTCOME_SCHEMA = "csms.common.CommandOutcome"
COMMAND_SCHEMA = "csms.common.Command"


class CommandRejected(Exception):
    """Raised by a command handler to answer INVALID / NOT_FOUND / CONFLICT / FORBIDDEN with a reason."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Command:
    command_id: str
    command_type: str
    aggregate_id: str | None
    payload: dict[str, Any]
    requested_by: str | None
    requested_at: datetime


def read_command(event: Event) -> Command:
    """The command carried by an event of schema `csms.common.Command`."""
    assert event.value is not None
    v = event.value
    payload = orjson.loads(v["payload_json"]) if v["payload_json"] else {}
    if not isinstance(payload, dict):
        raise CommandRejected("INVALID", "payload_json must be a JSON object")
    return Command(v["command_id"], v["command_type"], v.get("aggregate_id"), payload, v.get("requested_by"),
                   v["requested_at"])


def answer(
    uow: UnitOfWork,
    command: Command,
    domain: str,
    status: str,
    *,
    result: Any = None,
    error: str | None = None,
    aggregate_id: str | None = None,
) -> None:
    """Emit the command's outcome through the outbox (atomic with the command's effects)."""
    uow.emit(
        OUTCOMES_TOPIC,
        command.command_id,
        OUTCOME_SCHEMA,
        {
            "command_id": command.command_id,
            "command_type": command.command_type,
            "domain": domain,
            "status": status,
            "aggregate_id": aggregate_id or command.aggregate_id,
            "result_json": orjson.dumps(result, default=str).decode() if result is not None else None,
            "error_message": error,
            "completed_at": datetime.now(UTC),
        },
    )


CommandFn = Callable[[Command, UnitOfWork], Awaitable[tuple[str, Any]]]


def command_handler(domain: str, table: Mapping[str, CommandFn]) -> Callable[[Event, UnitOfWork], Awaitable[None]]:
    """A runtime handler for `<domain>.commands`: dispatch by `command_type` through `table` and answer.

    Each entry returns `(status, result)` (status OK or CREATED); raising `CommandRejected` answers with its
    status and reason, and the command's partial effects are rolled back (savepoint). An unknown command type is
    answered INVALID. Other exceptions propagate (the runtime dead-letters the command).
    """

    async def handle(event: Event, uow: UnitOfWork) -> None:
        try:
            command = read_command(event)
        except (CommandRejected, ValueError, KeyError) as exc:
            raise ValueError(f"malformed command: {exc}") from exc
        fn = table.get(command.command_type)
        if fn is None:
            answer(uow, command, domain, "INVALID", error=f"unknown command type {command.command_type!r}")
            return
        savepoint = await uow.conn.begin_nested()
        try:
            status, result = await fn(command, uow)
        except CommandRejected as rejected:
            await savepoint.rollback()
            answer(uow, command, domain, rejected.status, error=rejected.message)
            return
        except BaseException:
            if savepoint.is_active:
                await savepoint.rollback()
            raise
        await savepoint.commit()
        answer(uow, command, domain, status, result=result)

    return handle

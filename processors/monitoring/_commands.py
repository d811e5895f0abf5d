"""Operator commands on `monitoring.commands` (DESIGN.md decision 7).

    CreateAlertRule  {rule_id?, name?, type, severity?, scope?, params, cooldown_s?, webhook_url?, enabled?}
                     -> CREATED {rule}; CONFLICT if the id exists; INVALID if the rule is malformed
    UpdateAlertRule  {rule_id, name?, severity?, scope?, params?, cooldown_s?, webhook_url?, enabled?,
                      rotate_webhook_secret?} -> OK {rule}; NOT_FOUND; INVALID
    DeleteAlertRule  {rule_id} -> OK {rule_id}; NOT_FOUND (its active alerts resolve on the next evaluation)
    AcknowledgeAlert {alert_id, note?} -> OK {alert}; NOT_FOUND; CONFLICT if already resolved
The rule or alert id may also come as the command's aggregate_id.
"""

from __future__ import annotations

import uuid
from typing import Any

from processors.monitoring import _alerts
from processors.monitoring.domain import RuleInvalid, parse_rule, update_rule
from processors.monitoring.domain.alerts import AlertConflict, AlertState, acknowledge
from processors.runtime import Command, CommandRejected, UnitOfWork, command_handler


def _id(command: Command, field: str) -> str:
    value = command.payload.get(field) or command.aggregate_id
    if not isinstance(value, str) or not value:
        raise CommandRejected("INVALID", f"{field} is required")
    return value


async def create_alert_rule(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    rule_id = command.payload.get("rule_id") or command.aggregate_id or str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"csms:monitoring:rule:{command.command_id}"))
    try:
        rule = parse_rule(str(rule_id), {k: v for k, v in command.payload.items() if k != "rule_id"})
    except RuleInvalid as exc:
        raise CommandRejected("INVALID", str(exc)) from None
    if not await _alerts.insert_rule(uow.conn, rule, command.requested_at):
        raise CommandRejected("CONFLICT", f"rule {rule.rule_id} exists")
    return "CREATED", rule.to_json()


async def update_alert_rule(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    rule_id = _id(command, "rule_id")
    rule = await _alerts.load_rule(uow.conn, rule_id)
    if rule is None:
        raise CommandRejected("NOT_FOUND", f"no rule {rule_id}")
    try:
        updated = update_rule(rule, command.payload)
    except RuleInvalid as exc:
        raise CommandRejected("INVALID", str(exc)) from None
    await _alerts.save_rule(uow.conn, updated, command.requested_at)
    return "OK", updated.to_json()


async def delete_alert_rule(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    rule_id = _id(command, "rule_id")
    if await _alerts.load_rule(uow.conn, rule_id) is None:
        raise CommandRejected("NOT_FOUND", f"no rule {rule_id}")
    await _alerts.delete_rule(uow.conn, rule_id, command.requested_at)
    return "OK", {"rule_id": rule_id}


async def acknowledge_alert(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    alert_id = _id(command, "alert_id")
    row = await _alerts.load_alert(uow.conn, alert_id)
    if row is None:
        raise CommandRejected("NOT_FOUND", f"no alert {alert_id}")
    try:
        transition = acknowledge(AlertState(row.state))
    except AlertConflict as exc:
        raise CommandRejected("CONFLICT", str(exc)) from None
    if transition is not None:
        row = await _alerts.acknowledge_alert(uow.conn, uow, alert_id, command.requested_by, command.requested_at)
    return "OK", {"alert_id": alert_id, "state": row.state, "acknowledged_by": row.acknowledged_by,
                  "acknowledged_at": row.acknowledged_at}


COMMANDS = {
    "CreateAlertRule": create_alert_rule,
    "UpdateAlertRule": update_alert_rule,
    "DeleteAlertRule": delete_alert_rule,
    "AcknowledgeAlert": acknowledge_alert,
}
handle_command = command_handler("monitoring", COMMANDS)

"""Rules and alerts in the store; every alert transition goes out as an event and, per rule, to a webhook.

A transition is written in the caller's transaction: the alert row, its `monitoring.alerts` event (outbox) and
its webhook delivery row commit together or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from processors.monitoring.domain import Rule, RuleType, Scope, Severity
from processors.monitoring.domain.alerts import AlertState, Transition
from processors.monitoring.domain.rules import ScopeKind
from processors.monitoring.store import alert_rules, alerts, webhook_deliveries
from processors.runtime import UnitOfWork

ALERTS_TOPIC = "monitoring.alerts"
TRANSITION_SCHEMA = "csms.monitoring.AlertTransition"


def rule_from_row(row: Any) -> Rule:
    """A Rule from an `alert_rules` row."""
    return Rule(row.rule_id, row.name, RuleType(row.rule_type), Severity(row.severity),
                Scope(ScopeKind(row.scope_kind), row.scope_id), dict(row.params), row.cooldown_s, row.webhook_url,
                row.enabled, row.secret_version)


def _rule_values(rule: Rule) -> dict[str, Any]:
    return {"name": rule.name, "rule_type": rule.rule_type.value, "severity": rule.severity.value,
            "scope_kind": rule.scope.kind.value, "scope_id": rule.scope.id, "params": dict(rule.params),
            "cooldown_s": rule.cooldown_s, "webhook_url": rule.webhook_url, "enabled": rule.enabled,
            "secret_version": rule.secret_version}


async def insert_rule(conn: AsyncConnection, rule: Rule, now: datetime) -> bool:
    """Insert a new rule; False if the rule id is taken."""
    result = await conn.execute(insert(alert_rules).values(
        rule_id=rule.rule_id, created_at=now, updated_at=now, **_rule_values(rule)).on_conflict_do_nothing()
        .returning(alert_rules.c.rule_id))
    return result.first() is not None


async def load_rule(conn: AsyncConnection, rule_id: str) -> Rule | None:
    """A live (not deleted) rule, locked for update."""
    row = (await conn.execute(sa.select(alert_rules).where(
        alert_rules.c.rule_id == rule_id, alert_rules.c.deleted_at.is_(None)).with_for_update())).first()
    return rule_from_row(row) if row is not None else None


async def save_rule(conn: AsyncConnection, rule: Rule, now: datetime) -> None:
    await conn.execute(sa.update(alert_rules).where(alert_rules.c.rule_id == rule.rule_id).values(
        updated_at=now, **_rule_values(rule)))


async def delete_rule(conn: AsyncConnection, rule_id: str, now: datetime) -> None:
    """Soft delete (alerts keep their rule); the evaluator resolves the rule's active alerts."""
    await conn.execute(sa.update(alert_rules).where(alert_rules.c.rule_id == rule_id).values(
        deleted_at=now, enabled=False, updated_at=now))


async def live_rules(conn: AsyncConnection) -> list[Rule]:
    """Enabled, not deleted rules."""
    rows = await conn.execute(sa.select(alert_rules).where(
        alert_rules.c.enabled.is_(True), alert_rules.c.deleted_at.is_(None)).order_by(alert_rules.c.rule_id))
    return [rule_from_row(r) for r in rows]


async def orphaned_alerts(conn: AsyncConnection) -> list[tuple[Rule, str]]:
    """Active alerts whose rule was disabled or deleted: (rule, subject)."""
    rows = await conn.execute(
        sa.select(alert_rules, alerts.c.subject).join(alerts, alerts.c.rule_id == alert_rules.c.rule_id).where(
            alerts.c.state != AlertState.RESOLVED.value,
            sa.or_(alert_rules.c.enabled.is_(False), alert_rules.c.deleted_at.is_not(None))))
    return [(rule_from_row(r), r.subject) for r in rows]


async def active_subjects(conn: AsyncConnection, rule_id: str) -> set[str]:
    rows = await conn.execute(sa.select(alerts.c.subject).where(
        alerts.c.rule_id == rule_id, alerts.c.state != AlertState.RESOLVED.value))
    return {r.subject for r in rows}


async def last_resolved(conn: AsyncConnection, rule_id: str, subjects: Iterable[str]) -> dict[str, datetime]:
    wanted = sorted(subjects)
    if not wanted:
        return {}
    rows = await conn.execute(
        sa.select(alerts.c.subject, sa.func.max(alerts.c.resolved_at).label("at")).where(
            alerts.c.rule_id == rule_id, alerts.c.subject.in_(wanted), alerts.c.resolved_at.is_not(None),
        ).group_by(alerts.c.subject))
    return {r.subject: r.at for r in rows}


async def open_alert(conn: AsyncConnection, uow: UnitOfWork, rule: Rule, subject: str, station_id: str | None,
                     message: str, now: datetime) -> str | None:
    """Open an alert for (rule, subject) unless one is active; returns its id."""
    alert_id = str(uuid.uuid4())
    row = (await conn.execute(insert(alerts).values(
        alert_id=alert_id, rule_id=rule.rule_id, rule_type=rule.rule_type.value, severity=rule.severity.value,
        station_id=station_id, subject=subject, state=AlertState.OPEN.value, message=message, opened_at=now,
    ).on_conflict_do_nothing().returning(*alerts.c))).first()
    if row is None:
        return None
    await _transition(conn, uow, rule, row, Transition.OPENED, now, actor=None)
    return alert_id


async def resolve_alert(conn: AsyncConnection, uow: UnitOfWork, rule: Rule, subject: str, now: datetime,
                        resolution: str) -> None:
    """Resolve the active alert of (rule, subject), if any."""
    row = (await conn.execute(sa.update(alerts).where(
        alerts.c.rule_id == rule.rule_id, alerts.c.subject == subject, alerts.c.state != AlertState.RESOLVED.value,
    ).values(state=AlertState.RESOLVED.value, resolved_at=now, resolution=resolution).returning(*alerts.c))).first()
    if row is not None:
        await _transition(conn, uow, rule, row, Transition.RESOLVED, now, actor=None)


async def load_alert(conn: AsyncConnection, alert_id: str) -> Any:
    return (await conn.execute(sa.select(alerts).where(alerts.c.alert_id == alert_id).with_for_update())).first()


async def acknowledge_alert(conn: AsyncConnection, uow: UnitOfWork, alert_id: str, actor: str | None,
                            now: datetime) -> Any:
    """Mark an OPEN alert acknowledged and emit the transition; returns the updated row."""
    row = (await conn.execute(sa.update(alerts).where(
        alerts.c.alert_id == alert_id, alerts.c.state == AlertState.OPEN.value,
    ).values(state=AlertState.ACKNOWLEDGED.value, acknowledged_at=now, acknowledged_by=actor)
        .returning(*alerts.c))).first()
    if row is not None:
        rule_row = (await conn.execute(sa.select(alert_rules).where(alert_rules.c.rule_id == row.rule_id))).one()
        await _transition(conn, uow, rule_from_row(rule_row), row, Transition.ACKNOWLEDGED, now, actor=actor)
    return row


def transition_value(row: Any, transition: Transition, at: datetime, actor: str | None) -> dict[str, Any]:
    """The `csms.monitoring.AlertTransition` record of a transition of the alert in `row`."""
    return {"alert_id": row.alert_id, "transition": transition.value, "state": row.state, "rule_id": row.rule_id,
            "rule_type": row.rule_type, "severity": row.severity, "subject": row.subject,
            "station_id": row.station_id, "message": row.message, "opened_at": row.opened_at, "at": at,
            "actor": actor, "resolution": row.resolution}


async def _transition(conn: AsyncConnection, uow: UnitOfWork, rule: Rule, row: Any, transition: Transition,
                      at: datetime, *, actor: str | None) -> None:
    value = transition_value(row, transition, at, actor)
    event_id = uow.emit(ALERTS_TOPIC, row.alert_id, TRANSITION_SCHEMA, value)
    if rule.webhook_url:
        body = orjson.dumps({"event_id": event_id, **value}, default=str)
        await conn.execute(sa.insert(webhook_deliveries).values(
            rule_id=rule.rule_id, alert_id=row.alert_id, transition=transition.value, url=rule.webhook_url,
            body=body, secret_version=rule.secret_version, status="PENDING", attempts=0, next_attempt_at=at,
            created_at=at))

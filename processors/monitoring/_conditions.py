"""The condition of each rule type as one set-based query: which subjects violate the rule now.

Each query returns (subject, station_id, message) rows; scope filters join `station_state` (alias s).
Times compare the edge's receive times (or trusted charger times) with the evaluator's clock `now`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from processors.monitoring.domain import FAILED_FIRMWARE_STATUSES, Rule, RuleType
from processors.monitoring.domain.rules import ScopeKind


class Violation(NamedTuple):
    station_id: str | None
    message: str


_SCOPE = {ScopeKind.ALL: "true", ScopeKind.STATION: "s.station_id = :scope_id", ScopeKind.SITE: "s.site_id = :scope_id"}

_SQL: dict[RuleType, str] = {
    RuleType.STATION_OFFLINE: """
        select s.station_id as subject, s.station_id, 'offline since ' || s.disconnected_at::text as message
        from station_state s where not s.connected and s.disconnected_at <= :cutoff and {scope}""",
    RuleType.NO_HEARTBEAT: """
        select s.station_id as subject, s.station_id, 'nothing received since ' || s.last_message_at::text
        from station_state s where s.last_message_at <= :cutoff and {scope}""",
    RuleType.CONNECTOR_FAULTED: """
        select c.station_id || '/' || c.evse_id || '/' || c.connector_id, c.station_id,
               'connector ' || c.evse_id || '/' || c.connector_id || ' faulted: ' || coalesce(c.error_code, 'Faulted')
        from connector_state c left join station_state s on s.station_id = c.station_id
        where c.status = 'Faulted' and c.status_since <= :cutoff and {scope}""",
    RuleType.AUTH_FAILURES: """
        select e.station_id, e.station_id, count(*) || ' failed authorizations'
        from station_events e left join station_state s on s.station_id = e.station_id
        where e.kind = 'AUTH_FAILED' and e.at > :since and {scope}
        group by e.station_id having count(*) >= :count""",
    RuleType.SESSION_FAILURE_RATE: """
        select x.station_id, x.station_id,
               sum(x.failed::int) || ' of ' || count(*) || ' sessions failed'
        from sessions x left join station_state s on s.station_id = x.station_id
        where x.stopped_at > :since and {scope}
        group by x.station_id having count(*) >= :min_sessions and avg(x.failed::int) > :threshold""",
    RuleType.POWER_ANOMALY: """
        select r.station_id, r.station_id, 'power peaked at ' || max(r.max) || ' W'
        from meter_rollup_1m r left join station_state s on s.station_id = r.station_id
        where r.bucket >= :since and r.measurand = 'Power.Active.Import' and r.unit = 'W'
          and r.max > :max_power_w and {scope}
        group by r.station_id""",
    RuleType.ENERGY_ANOMALY: """
        select distinct on (x.station_id) x.station_id, x.station_id, 'energy ' || x.wh || ' Wh in window'
        from (select r.station_id, max(r.max) - min(r.min) as wh
              from meter_rollup_1m r left join station_state s on s.station_id = r.station_id
              where r.bucket >= :since and r.measurand = 'Energy.Active.Import.Register' and r.unit = 'Wh'
                and {scope}
              group by r.station_id, r.evse_id, r.connector_id) x
        where x.wh > :max_wh order by x.station_id, x.wh desc""",
    RuleType.FIRMWARE_FAILED: """
        select s.station_id, s.station_id, 'firmware ' || s.firmware_status from station_state s
        where s.firmware_status = any(cast(:failed as text[])) and {scope}""",
    RuleType.SECURITY_EVENT: """
        select e.station_id, e.station_id, count(*) || ' security events, last ' || max(e.code)
        from station_events e left join station_state s on s.station_id = e.station_id
        where e.kind = 'SECURITY_EVENT' and e.at > :since and {scope}
          and (cardinality(cast(:types as text[])) = 0 or e.code = any(cast(:types as text[])))
        group by e.station_id""",
    RuleType.DEAD_LETTER: """
        select 'group:' || d.consumer_group, null, count(*) || ' dead letters, last: ' || max(d.reason)
        from dead_letters d where d.failed_at > :since group by d.consumer_group""",
}

_WINDOW_PARAM = {RuleType.STATION_OFFLINE: ("minutes", 60), RuleType.NO_HEARTBEAT: ("seconds", 1),
                 RuleType.CONNECTOR_FAULTED: ("minutes", 60)}
_SINCE_PARAM = {RuleType.AUTH_FAILURES: "window_s", RuleType.SESSION_FAILURE_RATE: "window_s",
                RuleType.POWER_ANOMALY: "window_s", RuleType.ENERGY_ANOMALY: "window_s",
                RuleType.SECURITY_EVENT: "hold_s", RuleType.DEAD_LETTER: "hold_s"}
_EXTRA: dict[RuleType, Callable[[Rule], dict[str, Any]]] = {
    RuleType.AUTH_FAILURES: lambda r: {"count": int(r.params["count"])},
    RuleType.SESSION_FAILURE_RATE: lambda r: {"min_sessions": int(r.params["min_sessions"]),
                                              "threshold": float(r.params["threshold"])},
    RuleType.POWER_ANOMALY: lambda r: {"max_power_w": float(r.params["max_power_w"])},
    RuleType.ENERGY_ANOMALY: lambda r: {"max_wh": float(r.params["max_wh"])},
    RuleType.FIRMWARE_FAILED: lambda r: {"failed": sorted(FAILED_FIRMWARE_STATUSES)},
    RuleType.SECURITY_EVENT: lambda r: {"types": list(r.params.get("types") or [])},
}


def condition(rule: Rule, now: datetime) -> tuple[sa.TextClause, dict[str, Any]]:
    """The query and parameters of a rule's condition at `now`."""
    params: dict[str, Any] = {}
    if rule.scope.kind is not ScopeKind.ALL:
        params["scope_id"] = rule.scope.id
    if rule.rule_type in _WINDOW_PARAM:
        name, unit = _WINDOW_PARAM[rule.rule_type]
        params["cutoff"] = now - timedelta(seconds=float(rule.params[name]) * unit)
    if rule.rule_type in _SINCE_PARAM:
        params["since"] = now - timedelta(seconds=float(rule.params[_SINCE_PARAM[rule.rule_type]]))
    if rule.rule_type in _EXTRA:
        params.update(_EXTRA[rule.rule_type](rule))
    return sa.text(_SQL[rule.rule_type].format(scope=_SCOPE[rule.scope.kind])), params


async def violations(conn: AsyncConnection, rule: Rule, now: datetime) -> dict[str, Violation]:
    """Subjects violating `rule` at `now`, with their station and a human message."""
    sql, params = condition(rule, now)
    rows = await conn.execute(sql, params)
    return {row[0]: Violation(row[1], row[2]) for row in rows}

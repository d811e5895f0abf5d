"""The pure monitoring domain: OCPP payloads to samples and health facts, rules, alert lifecycle, risk score."""

from processors.monitoring.domain.alerts import AlertPlan, plan_alerts
from processors.monitoring.domain.health import (
    FAILED_FIRMWARE_STATUSES,
    FAILURE_STOP_REASONS,
    is_charging,
    is_occupied,
    split_by_day,
    trusted_time,
)
from processors.monitoring.domain.risk import RiskCounts, risk_score
from processors.monitoring.domain.rules import Rule, RuleInvalid, RuleType, Scope, Severity, parse_rule, update_rule
from processors.monitoring.domain.samples import DEFAULT_MEASURAND

__all__ = [
    "DEFAULT_MEASURAND",
    "FAILED_FIRMWARE_STATUSES",
    "FAILURE_STOP_REASONS",
    "AlertPlan",
    "RiskCounts",
    "Rule",
    "RuleInvalid",
    "RuleType",
    "Scope",
    "Severity",
    "is_charging",
    "is_occupied",
    "parse_rule",
    "plan_alerts",
    "risk_score",
    "split_by_day",
    "trusted_time",
    "update_rule",
]

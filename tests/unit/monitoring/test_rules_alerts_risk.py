"""Rules validation, the alert plan (cool-down), the risk score, conditions, webhook signing, report helpers."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta

import pytest

from processors.monitoring._conditions import condition
from processors.monitoring.domain import (
    RiskCounts,
    RuleInvalid,
    RuleType,
    parse_rule,
    plan_alerts,
    risk_score,
    update_rule,
)
from processors.monitoring.domain.alerts import AlertConflict, AlertState, Transition, acknowledge
from processors.monitoring.partitions import partition_name, period_end
from processors.monitoring.reports import period_of, report_csv
from processors.monitoring.webhooks import backoff, rule_secret, signature

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def test_a_rule_gets_defaults_and_validated_params():
    rule = parse_rule("r1", {"type": "auth_failures", "params": {"count": 3}, "scope": {"kind": "site", "id": "S"}})
    assert (rule.rule_type, rule.params, rule.scope.id, rule.cooldown_s) == (
        RuleType.AUTH_FAILURES, {"count": 3, "window_s": 600}, "S", 300)
    assert rule.to_json()["severity"] == "WARNING"


@pytest.mark.parametrize(("payload", "message"), [
    ({"type": "NOPE"}, "type must be one of"),
    ({"type": "NO_HEARTBEAT"}, "needs params.seconds"),
    ({"type": "NO_HEARTBEAT", "params": {"seconds": 0}}, "positive"),
    ({"type": "NO_HEARTBEAT", "params": {"seconds": 5, "x": 1}}, "unknown params"),
    ({"type": "SESSION_FAILURE_RATE", "params": {"threshold": 2}}, "between 0 and 1"),
    ({"type": "FIRMWARE_FAILED", "scope": {"kind": "STATION"}}, "needs an id"),
    ({"type": "FIRMWARE_FAILED", "webhook_url": "ftp://x"}, "http"),
    ({"type": "FIRMWARE_FAILED", "cooldown_s": -1}, "cooldown_s"),
])
def test_invalid_rules_are_refused_with_a_reason(payload, message):
    with pytest.raises(RuleInvalid, match=message):
        parse_rule("r", payload)


def test_update_merges_params_rotates_secret_and_keeps_type():
    rule = parse_rule("r", {"type": "AUTH_FAILURES", "params": {"count": 3}})
    updated = update_rule(rule, {"params": {"window_s": 60}, "severity": "critical", "rotate_webhook_secret": True})
    assert (updated.params, updated.severity.value, updated.secret_version) == (
        {"count": 3, "window_s": 60}, "CRITICAL", 2)
    with pytest.raises(RuleInvalid, match="cannot update"):
        update_rule(rule, {"type": "NO_HEARTBEAT"})


def test_plan_opens_new_resolves_cleared_and_respects_cooldown():
    plan = plan_alerts({"a", "b", "c"}, {"c", "d"}, {"b": NOW - timedelta(seconds=10)}, NOW, cooldown_s=60)
    assert (plan.open, plan.resolve, plan.suppressed) == (["a"], ["d"], ["b"])
    later = plan_alerts({"b"}, set(), {"b": NOW - timedelta(seconds=61)}, NOW, cooldown_s=60)
    assert later.open == ["b"]


def test_acknowledge_transitions():
    assert acknowledge(AlertState.OPEN) is Transition.ACKNOWLEDGED
    assert acknowledge(AlertState.ACKNOWLEDGED) is None
    with pytest.raises(AlertConflict):
        acknowledge(AlertState.RESOLVED)


def test_risk_score_ranks_recent_trouble_above_old_trouble():
    recent = RiskCounts("A", errors_7d=7, errors_30d=7)
    old = RiskCounts("B", errors_30d=30)
    assert risk_score(recent) > risk_score(old) > 0
    assert risk_score(RiskCounts("C")) == 0
    assert risk_score(recent) == pytest.approx(3 + 2 * (3 - 21 / 30) + 0.5 * 21 / 30)


def test_conditions_bind_thresholds_from_the_rule_and_the_clock():
    sql, params = condition(parse_rule("r", {"type": "NO_HEARTBEAT", "params": {"seconds": 90},
                                             "scope": {"kind": "STATION", "id": "S"}}), NOW)
    assert params == {"scope_id": "S", "cutoff": NOW - timedelta(seconds=90)}
    assert "s.station_id = :scope_id" in str(sql)
    _, params = condition(parse_rule("r", {"type": "STATION_OFFLINE", "params": {"minutes": 2}}), NOW)
    assert params == {"cutoff": NOW - timedelta(minutes=2)}
    for rule_type in RuleType:
        payload = {"type": rule_type.value, "params": {}}
        required = {"STATION_OFFLINE": "minutes", "NO_HEARTBEAT": "seconds", "AUTH_FAILURES": "count",
                    "SESSION_FAILURE_RATE": "threshold", "POWER_ANOMALY": "max_power_w", "ENERGY_ANOMALY": "max_wh"}
        if rule_type.value in required:
            payload["params"] = {required[rule_type.value]: 0.5}
        condition(parse_rule("r", payload), NOW)  # every type has a condition


def test_webhook_signature_is_hmac_sha256_of_the_body_with_a_derived_secret():
    secret = rule_secret(b"master", "r1", 1)
    assert secret != rule_secret(b"master", "r1", 2) != rule_secret(b"master", "r2", 1)
    assert signature(secret, b"{}") == "sha256=" + hmac.new(secret.encode(), b"{}", hashlib.sha256).hexdigest()
    assert [backoff(n, 1.0, 10.0) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 8.0, 10.0]


def test_periods_partitions_and_csv():
    assert period_of(date(2026, 3, 12), "week") == date(2026, 3, 9)
    assert period_of(date(2026, 3, 12), "month") == date(2026, 3, 1)
    assert partition_name("meter_rollup_1h", date(2026, 12, 1)) == "meter_rollup_1h_p202612"
    assert period_end(date(2026, 12, 1), "meter_rollup_1h") == date(2027, 1, 1)
    assert period_end(date(2026, 12, 31), "meter_samples") == date(2027, 1, 1)
    assert report_csv([{"period": "2026-03-09", "sessions": 2, "revenue": {"EUR": "1.50"}}]).splitlines() == [
        "period,sessions,revenue_EUR", "2026-03-09,2,1.50"]

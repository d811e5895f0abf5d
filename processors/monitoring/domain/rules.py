"""Alert rules (pure): the rule types, their parameters, and validation of operator payloads.

Every rule type is a *condition* the evaluator checks against the store, so each alert opens while its condition
holds and resolves by itself when it no longer does (see docs/monitoring.md for each condition).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlparse


class RuleInvalid(ValueError):
    """An operator payload that does not describe a valid rule."""


class RuleType(StrEnum):
    STATION_OFFLINE = "STATION_OFFLINE"
    NO_HEARTBEAT = "NO_HEARTBEAT"
    CONNECTOR_FAULTED = "CONNECTOR_FAULTED"
    AUTH_FAILURES = "AUTH_FAILURES"
    SESSION_FAILURE_RATE = "SESSION_FAILURE_RATE"
    POWER_ANOMALY = "POWER_ANOMALY"
    ENERGY_ANOMALY = "ENERGY_ANOMALY"
    FIRMWARE_FAILED = "FIRMWARE_FAILED"
    SECURITY_EVENT = "SECURITY_EVENT"
    DEAD_LETTER = "DEAD_LETTER"


class Severity(StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


class ScopeKind(StrEnum):
    ALL = "ALL"
    STATION = "STATION"
    SITE = "SITE"


_REQUIRED = object()
# parameter name -> default (or _REQUIRED); all parameters are positive numbers except `threshold` (0..1) and
# `types` (a list of security event types).
PARAMS: dict[RuleType, dict[str, Any]] = {
    RuleType.STATION_OFFLINE: {"minutes": _REQUIRED},
    RuleType.NO_HEARTBEAT: {"seconds": _REQUIRED},
    RuleType.CONNECTOR_FAULTED: {"minutes": 0},
    RuleType.AUTH_FAILURES: {"count": _REQUIRED, "window_s": 600},
    RuleType.SESSION_FAILURE_RATE: {"threshold": _REQUIRED, "window_s": 86_400, "min_sessions": 5},
    RuleType.POWER_ANOMALY: {"max_power_w": _REQUIRED, "window_s": 120},
    RuleType.ENERGY_ANOMALY: {"max_wh": _REQUIRED, "window_s": 3600},
    RuleType.FIRMWARE_FAILED: {},
    RuleType.SECURITY_EVENT: {"hold_s": 3600, "types": []},
    RuleType.DEAD_LETTER: {"hold_s": 3600},
}


@dataclass(frozen=True, slots=True)
class Scope:
    kind: ScopeKind = ScopeKind.ALL
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """An operator's alert rule. The webhook secret is derived, never stored (docs/monitoring.md)."""

    rule_id: str
    name: str
    rule_type: RuleType
    severity: Severity
    scope: Scope
    params: Mapping[str, Any] = field(default_factory=dict)
    cooldown_s: int = 300
    webhook_url: str | None = None
    enabled: bool = True
    secret_version: int = 1

    def to_json(self) -> dict[str, Any]:
        """The rule as a JSON-ready dict (command results, queries)."""
        return {"rule_id": self.rule_id, "name": self.name, "type": self.rule_type.value,
                "severity": self.severity.value, "scope": {"kind": self.scope.kind.value, "id": self.scope.id},
                "params": dict(self.params), "cooldown_s": self.cooldown_s, "webhook_url": self.webhook_url,
                "enabled": self.enabled, "secret_version": self.secret_version}


def _enum(cls: type[StrEnum], raw: Any, what: str) -> Any:
    try:
        return cls(str(raw).upper())
    except ValueError:
        raise RuleInvalid(f"{what} must be one of {[m.value for m in cls]}") from None


def _params(rule_type: RuleType, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise RuleInvalid("params must be an object")
    spec = PARAMS[rule_type]
    unknown = set(raw) - set(spec)
    if unknown:
        raise RuleInvalid(f"unknown params for {rule_type.value}: {sorted(unknown)}")
    out: dict[str, Any] = {}
    for name, default in spec.items():
        value = raw.get(name, default)
        if value is _REQUIRED:
            raise RuleInvalid(f"{rule_type.value} needs params.{name}")
        if name == "types":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise RuleInvalid("params.types must be a list of strings")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise RuleInvalid(f"params.{name} must be a number")
        elif name == "threshold" and not 0 <= value <= 1:
            raise RuleInvalid("params.threshold is a fraction between 0 and 1")
        elif value < 0 or (value == 0 and default is _REQUIRED):
            raise RuleInvalid(f"params.{name} must be positive")
        out[name] = value
    return out


def _scope(raw: Any) -> Scope:
    if raw is None:
        return Scope()
    if not isinstance(raw, dict):
        raise RuleInvalid("scope must be an object {kind, id}")
    kind = _enum(ScopeKind, raw.get("kind", "ALL"), "scope.kind")
    scope_id = raw.get("id")
    if kind is not ScopeKind.ALL and not (isinstance(scope_id, str) and scope_id):
        raise RuleInvalid(f"scope {kind.value} needs an id")
    return Scope(kind, scope_id if kind is not ScopeKind.ALL else None)


def _webhook(raw: Any) -> str | None:
    if raw in (None, ""):
        return None
    parsed = urlparse(str(raw))
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise RuleInvalid("webhook_url must be an http(s) URL")
    return str(raw)


def _cooldown(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise RuleInvalid("cooldown_s must be a non-negative integer")
    return raw


def parse_rule(rule_id: str, payload: Mapping[str, Any]) -> Rule:
    """A new rule from a CreateAlertRule payload; raises RuleInvalid."""
    rule_type = _enum(RuleType, payload.get("type"), "type")
    name = payload.get("name") or f"{rule_type.value} rule"
    if not isinstance(name, str):
        raise RuleInvalid("name must be a string")
    enabled = payload.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleInvalid("enabled must be a boolean")
    return Rule(rule_id, name, rule_type, _enum(Severity, payload.get("severity", "WARNING"), "severity"),
                _scope(payload.get("scope")), _params(rule_type, payload.get("params", {})),
                _cooldown(payload.get("cooldown_s", 300)), _webhook(payload.get("webhook_url")), enabled)


def update_rule(rule: Rule, payload: Mapping[str, Any]) -> Rule:
    """The rule with an UpdateAlertRule payload applied (its type cannot change); raises RuleInvalid."""
    allowed = {"rule_id", "name", "severity", "scope", "params", "cooldown_s", "webhook_url", "enabled",
               "rotate_webhook_secret"}
    unknown = set(payload) - allowed
    if unknown:
        raise RuleInvalid(f"cannot update {sorted(unknown)}")
    changes: dict[str, Any] = {}
    if "name" in payload:
        if not isinstance(payload["name"], str) or not payload["name"]:
            raise RuleInvalid("name must be a non-empty string")
        changes["name"] = payload["name"]
    if "severity" in payload:
        changes["severity"] = _enum(Severity, payload["severity"], "severity")
    if "scope" in payload:
        changes["scope"] = _scope(payload["scope"])
    if "params" in payload:
        changes["params"] = _params(rule.rule_type, {**rule.params, **(payload["params"] or {})})
    if "cooldown_s" in payload:
        changes["cooldown_s"] = _cooldown(payload["cooldown_s"])
    if "webhook_url" in payload:
        changes["webhook_url"] = _webhook(payload["webhook_url"])
    if "enabled" in payload:
        if not isinstance(payload["enabled"], bool):
            raise RuleInvalid("enabled must be a boolean")
        changes["enabled"] = payload["enabled"]
    if payload.get("rotate_webhook_secret") is True:
        changes["secret_version"] = rule.secret_version + 1
    return dataclasses.replace(rule, **changes)

"""The alert lifecycle (pure): OPEN -> ACKNOWLEDGED -> RESOLVED, and what one evaluation of a rule changes.

An alert is identified by (rule, subject); a subject is a station id, `station/evse/connector`, or
`group:<consumer group>` for dead letters. At most one alert per (rule, subject) is active (not RESOLVED).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class AlertState(StrEnum):
    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    RESOLVED = "RESOLVED"


class Transition(StrEnum):
    OPENED = "OPENED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    RESOLVED = "RESOLVED"


class AlertConflict(ValueError):
    """A transition the alert's state does not allow (e.g. acknowledging a resolved alert)."""


def acknowledge(state: AlertState) -> Transition | None:
    """The transition an acknowledgement causes: ACKNOWLEDGED, None if already acknowledged; raises if resolved."""
    if state is AlertState.RESOLVED:
        raise AlertConflict("the alert is already resolved")
    return None if state is AlertState.ACKNOWLEDGED else Transition.ACKNOWLEDGED


@dataclass(frozen=True, slots=True)
class AlertPlan:
    """Subjects to open an alert for, and active alerts (by subject) to resolve."""

    open: list[str]
    resolve: list[str]
    suppressed: list[str]


def plan_alerts(
    violating: Set[str],
    active: Set[str],
    last_resolved: Mapping[str, datetime],
    now: datetime,
    cooldown_s: int,
) -> AlertPlan:
    """Compare a rule's violating subjects with its active alerts.

    A subject whose previous alert resolved less than `cooldown_s` ago is suppressed (no new alert yet), so a
    flapping condition does not page an operator on every flap.
    """
    cooldown = timedelta(seconds=cooldown_s)
    to_open, suppressed = [], []
    for subject in sorted(violating - active):
        resolved = last_resolved.get(subject)
        if resolved is not None and now - resolved < cooldown:
            suppressed.append(subject)
        else:
            to_open.append(subject)
    return AlertPlan(to_open, sorted(active - violating), suppressed)

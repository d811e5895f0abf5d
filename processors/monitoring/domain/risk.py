"""The predictive-maintenance score (pure); the formula is documented in docs/monitoring.md."""

from __future__ import annotations

from dataclasses import dataclass

WEIGHTS = {"errors": 3.0, "reboots": 5.0, "failed_sessions": 4.0, "disconnections": 2.0}
TREND_FACTOR = 2.0
BASELINE_FACTOR = 0.5


@dataclass(frozen=True, slots=True)
class RiskCounts:
    """A station's counts over the last 7 and the last 30 days."""

    station_id: str
    errors_7d: int = 0
    reboots_7d: int = 0
    failed_sessions_7d: int = 0
    disconnections_7d: int = 0
    errors_30d: int = 0
    reboots_30d: int = 0
    failed_sessions_30d: int = 0
    disconnections_30d: int = 0

    def weighted(self, window: str) -> float:
        """Weighted signal count over `7d` or `30d`."""
        return float(sum(weight * getattr(self, f"{name}_{window}") for name, weight in WEIGHTS.items()))


def risk_score(counts: RiskCounts) -> float:
    """Recent weighted daily rate, plus TREND_FACTOR times its excess over the 30-day rate, plus BASELINE_FACTOR
    times the 30-day rate (chronic trouble still ranks)."""
    recent = counts.weighted("7d") / 7
    baseline = counts.weighted("30d") / 30
    return round(recent + TREND_FACTOR * max(0.0, recent - baseline) + BASELINE_FACTOR * baseline, 4)

"""Fleet-health facts from OCPP payloads (pure): trusted times, status classes, failures, day splitting."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

# A charger clock is trusted when it is at most this far behind / ahead of the edge's receive time
# (DESIGN.md decision 10). Offline 2.x TransactionEvents arrive late, hence the wide past window.
TRUST_PAST = timedelta(days=7)
TRUST_FUTURE = timedelta(minutes=10)

OCCUPIED_STATUSES = frozenset({"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Occupied"})
# 1.6 stop reasons / 2.x stoppedReason values that mean the session failed rather than ended normally.
FAILURE_STOP_REASONS = frozenset({
    "EmergencyStop", "PowerLoss", "Reboot", "HardReset", "SoftReset", "ImmediateReset", "GroundFault",
    "OvercurrentFault", "PowerQuality", "Timeout",
})
FAILED_FIRMWARE_STATUSES = frozenset({
    "DownloadFailed", "InstallationFailed", "InstallVerificationFailed", "InvalidSignature",
})
FAILED_LOG_STATUSES = frozenset({"UploadFailed", "UploadFailure", "BadMessage", "PermissionDenied"})


def trusted_time(charger: datetime | None, received: datetime) -> datetime:
    """The charger's timestamp when plausible, else the edge's receive time."""
    if charger is None:
        return received
    if received - TRUST_PAST <= charger <= received + TRUST_FUTURE:
        return charger
    return received


def parse_time(text: Any) -> datetime | None:
    """An OCPP timestamp (ISO 8601) as an aware UTC datetime, or None if absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def is_occupied(status: str | None) -> bool:
    """A connector status in which a vehicle occupies the connector (1.6 and 2.x names)."""
    return status in OCCUPIED_STATUSES


def is_charging(status: str | None) -> bool:
    """1.6 `Charging` (2.x charging comes from TransactionEvent chargingState instead)."""
    return status == "Charging"


def is_status_error(ocpp_version: str, status: str, error_code: str | None) -> bool:
    """A StatusNotification that reports a fault (1.6 errorCode other than NoError, or status Faulted)."""
    if status == "Faulted":
        return True
    return ocpp_version == "ocpp1.6" and error_code not in (None, "", "NoError")


def notify_event_is_error(item: dict[str, Any]) -> bool:
    """A 2.x NotifyEvent eventData entry counted as an error: an Alerting monitor or a Problem/Fault raised."""
    if item.get("cleared") is True:
        return False
    if item.get("trigger") == "Alerting":
        return True
    variable = (item.get("variable") or {}).get("name")
    return variable in ("Problem", "Fault") and str(item.get("actualValue", "")).lower() == "true"


def split_by_day(start: datetime, end: datetime) -> list[tuple[date, float]]:
    """Seconds of [start, end) falling on each UTC day; empty when end <= start."""
    out: list[tuple[date, float]] = []
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    while start < end:
        next_midnight = datetime.combine(start.date() + timedelta(days=1), datetime.min.time(), UTC)
        stop = min(end, next_midnight)
        out.append((start.date(), (stop - start).total_seconds()))
        start = stop
    return out

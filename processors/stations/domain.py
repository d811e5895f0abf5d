"""The stations domain, pure: registration lifecycle, coordinates, connector types and status normalisation.

No I/O here; `commands.py` and `live.py` apply these rules to the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any


class StationError(ValueError):
    """A command or value the stations domain refuses (translated to an INVALID / CONFLICT outcome)."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


class Registration(StrEnum):
    """What BootNotification answers for a station (the `stations.registry` status)."""

    ACCEPTED = "ACCEPTED"
    PENDING = "PENDING"
    REJECTED = "REJECTED"
    DECOMMISSIONED = "DECOMMISSIONED"


# operator action -> (statuses it may start from, status it leads to)
_TRANSITIONS: dict[str, tuple[frozenset[Registration], Registration]] = {
    "approve": (frozenset({Registration.PENDING, Registration.REJECTED, Registration.ACCEPTED}),
                Registration.ACCEPTED),
    "reject": (frozenset({Registration.PENDING, Registration.ACCEPTED, Registration.REJECTED}),
               Registration.REJECTED),
    "decommission": (frozenset({Registration.PENDING, Registration.ACCEPTED, Registration.REJECTED}),
                     Registration.DECOMMISSIONED),
}


def transition(current: str, action: str) -> Registration:
    """The status `action` leads to from `current`; a decommissioned station takes no further transition."""
    allowed, target = _TRANSITIONS[action]
    if Registration(current) not in allowed:
        raise StationError("CONFLICT", f"cannot {action} a station that is {current}")
    return target


def registration_from_boot_answer(answer_status: str | None) -> Registration:
    """How a station that booted while unknown is recorded, from what the edge answered it.

    The edge applies the deployment's unknown-station setting: Pending (hold for an operator) is recorded PENDING,
    Accepted (auto-accept deployments) ACCEPTED, and Rejected REJECTED, so publishing the entry never changes what
    the edge answers that station next; an operator can approve a PENDING or REJECTED station later.
    """
    return {"Accepted": Registration.ACCEPTED, "Rejected": Registration.REJECTED}.get(
        answer_status or "", Registration.PENDING
    )


class ConnectorType(StrEnum):
    TYPE_1 = "TYPE_1"
    TYPE_2 = "TYPE_2"
    CCS1 = "CCS1"
    CCS2 = "CCS2"
    CHADEMO = "CHADEMO"
    GBT_AC = "GBT_AC"
    GBT_DC = "GBT_DC"
    NACS = "NACS"
    SCHUKO = "SCHUKO"
    OTHER = "OTHER"


CONNECTOR_STATUSES = frozenset({
    "Available", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Reserved", "Unavailable",
    "Faulted", "Occupied",
})


def normalise_status(raw: str | None) -> str | None:
    """One connector status model for 1.6 (`status`), 2.x (`connectorStatus`) and AvailabilityState values.

    1.6 and 2.x names are kept as they are (2.x `Occupied` covers 1.6 Preparing..Finishing); anything else is None.
    """
    if raw is None:
        return None
    if raw in CONNECTOR_STATUSES:
        return raw
    lowered = {s.lower(): s for s in CONNECTOR_STATUSES}
    return lowered.get(raw.strip().lower())


LAT = Decimal("0.00000001")


def coordinate(value: Any, *, bound: int, name: str) -> Decimal | None:
    """A latitude (bound 90) or longitude (bound 180) as a Decimal with 8 places (DECIMAL(10,8) / (11,8))."""
    if value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise StationError("INVALID", f"{name} is not a number: {value!r}") from None
    if not number.is_finite() or abs(number) > bound:
        raise StationError("INVALID", f"{name} must be within ±{bound}")
    return number.quantize(LAT, rounding=ROUND_HALF_EVEN)


def boot_details(ocpp_version: str, request: Mapping[str, Any]) -> dict[str, str | None]:
    """Vendor, model, serial and firmware from a 1.6 or 2.x BootNotification request."""
    if ocpp_version == "ocpp1.6":
        return {
            "vendor": request.get("chargePointVendor"),
            "model": request.get("chargePointModel"),
            "serial_number": request.get("chargePointSerialNumber") or request.get("chargeBoxSerialNumber"),
            "firmware_version": request.get("firmwareVersion"),
        }
    station = request.get("chargingStation") or {}
    return {
        "vendor": station.get("vendorName"),
        "model": station.get("model"),
        "serial_number": station.get("serialNumber"),
        "firmware_version": station.get("firmwareVersion"),
    }

"""Tariffs modelled on OCPI 2.2.1, immutable versions, and which tariff applies to a session.

A tariff version never changes once written: a change is a new `Tariff` with a higher `version`. A session
pins the `TariffRef` (id + version) effective at its start, so a later version never re-prices it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from enum import IntEnum, StrEnum
from typing import Any
from zoneinfo import ZoneInfo

_BEGINNING = datetime.min.replace(tzinfo=UTC)
# ISO 4217 minor units that are not 2; every other currency has 2 decimals.
_MINOR_UNITS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
                     "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def minor_unit(currency: str) -> int:
    """Number of decimals of a currency's minor unit (ISO 4217): EUR 2, JPY 0, KWD 3."""
    return _MINOR_UNITS.get(currency, 2)


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit; the result always has that exponent."""
    return amount.quantize(Decimal(1).scaleb(-minor_unit(currency)), rounding=ROUND_HALF_UP)


class Dimension(StrEnum):
    ENERGY = "ENERGY"  # per kWh, step_size in Wh
    FLAT = "FLAT"  # once per session
    TIME = "TIME"  # per hour charging, step_size in seconds
    PARKING_TIME = "PARKING_TIME"  # per hour not charging while plugged in, step_size in seconds


class DayOfWeek(StrEnum):
    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"

    @classmethod
    def of(cls, day: date) -> DayOfWeek:
        return list(cls)[day.weekday()]


def _require_decimal(name: str, value: object) -> None:
    if value is not None and not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, never a float: {value!r}")


@dataclass(frozen=True)
class PriceComponent:
    type: Dimension
    price: Decimal  # excl. VAT, per kWh / per hour / per session
    step_size: int = 1

    def __post_init__(self) -> None:
        _require_decimal("price", self.price)
        if self.price < 0 or self.step_size < 1:
            raise ValueError(f"invalid price component {self}")


@dataclass(frozen=True)
class TariffRestrictions:
    """OCPI TariffRestrictions: times and dates are local to the tariff's time zone; ends are exclusive."""

    start_time: time | None = None
    end_time: time | None = None
    start_date: date | None = None
    end_date: date | None = None
    min_kwh: Decimal | None = None
    max_kwh: Decimal | None = None
    min_current: Decimal | None = None
    max_current: Decimal | None = None
    min_power: Decimal | None = None  # kW
    max_power: Decimal | None = None
    min_duration: int | None = None  # seconds since the session started
    max_duration: int | None = None
    day_of_week: frozenset[DayOfWeek] = frozenset()
    reservation: str | None = None  # reservation elements never price a charging session

    def __post_init__(self) -> None:
        for name in ("min_kwh", "max_kwh", "min_current", "max_current", "min_power", "max_power"):
            _require_decimal(name, getattr(self, name))


@dataclass(frozen=True)
class TariffElement:
    price_components: tuple[PriceComponent, ...]
    restrictions: TariffRestrictions | None = None

    def component(self, dimension: Dimension) -> PriceComponent | None:
        return next((c for c in self.price_components if c.type is dimension), None)


@dataclass(frozen=True, order=True)
class TariffRef:
    id: str
    version: int


@dataclass(frozen=True)
class Tariff:
    """One immutable version of a tariff. `membership_discounts` maps a level to a percentage off."""

    id: str
    version: int
    currency: str
    elements: tuple[TariffElement, ...]
    vat_percent: Decimal = Decimal(0)
    time_zone: str = "UTC"
    membership_discounts: Mapping[str, Decimal] = field(default_factory=dict)
    effective_from: datetime | None = None
    effective_to: datetime | None = None  # exclusive

    def __post_init__(self) -> None:
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise ValueError(f"currency must be an ISO 4217 code: {self.currency!r}")
        if not self.elements:
            raise ValueError("a tariff has at least one element")
        _require_decimal("vat_percent", self.vat_percent)
        for level, percent in self.membership_discounts.items():
            _require_decimal(f"discount {level}", percent)
            if not Decimal(0) <= percent <= Decimal(100):
                raise ValueError(f"discount {level} must be 0..100: {percent}")
        ZoneInfo(self.time_zone)

    @property
    def ref(self) -> TariffRef:
        return TariffRef(self.id, self.version)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def discount_percent(self, membership_level: str | None) -> Decimal:
        return self.membership_discounts.get(membership_level or "", Decimal(0))

    def effective_at(self, at: datetime) -> bool:
        return (self.effective_from is None or self.effective_from <= at) and (
            self.effective_to is None or at < self.effective_to
        )


def _number(raw: Any) -> Decimal | None:
    return None if raw is None else Decimal(str(raw))


def _restrictions_from_ocpi(raw: Mapping[str, Any] | None) -> TariffRestrictions | None:
    if not raw:
        return None

    def clock(key: str) -> time | None:
        return time.fromisoformat(raw[key]) if raw.get(key) else None

    def day(key: str) -> date | None:
        return date.fromisoformat(raw[key]) if raw.get(key) else None

    return TariffRestrictions(
        start_time=clock("start_time"), end_time=clock("end_time"),
        start_date=day("start_date"), end_date=day("end_date"),
        min_kwh=_number(raw.get("min_kwh")), max_kwh=_number(raw.get("max_kwh")),
        min_current=_number(raw.get("min_current")), max_current=_number(raw.get("max_current")),
        min_power=_number(raw.get("min_power")), max_power=_number(raw.get("max_power")),
        min_duration=raw.get("min_duration"), max_duration=raw.get("max_duration"),
        day_of_week=frozenset(DayOfWeek(d) for d in raw.get("day_of_week") or ()),
        reservation=raw.get("reservation"),
    )


def tariff_from_ocpi(
    data: Mapping[str, Any], *, version: int, vat_percent: Decimal = Decimal(0), time_zone: str = "UTC",
    membership_discounts: Mapping[str, Decimal] | None = None, effective_from: datetime | None = None,
) -> Tariff:
    """A Tariff from an OCPI 2.2.1 Tariff object; JSON numbers become Decimals via their text."""
    elements = tuple(
        TariffElement(
            tuple(PriceComponent(Dimension(c["type"]), Decimal(str(c["price"])), int(c.get("step_size", 1)))
                  for c in element["price_components"]),
            _restrictions_from_ocpi(element.get("restrictions")),
        )
        for element in data["elements"]
    )
    return Tariff(
        id=str(data["id"]), version=version, currency=data["currency"], elements=elements,
        vat_percent=vat_percent, time_zone=time_zone, membership_discounts=dict(membership_discounts or {}),
        effective_from=effective_from,
    )


def tariff_version_at(versions: Iterable[Tariff], tariff_id: str, at: datetime) -> Tariff | None:
    """The version of `tariff_id` effective at `at`: the latest `effective_from`, then the highest version."""
    candidates = [t for t in versions if t.id == tariff_id and t.effective_at(at)]
    return max(candidates, key=lambda t: (t.effective_from or _BEGINNING, t.version), default=None)


class Scope(IntEnum):
    """Where a tariff is assigned; a lower value takes precedence."""

    DRIVER_GROUP = 1
    CONNECTOR = 2
    STATION = 3
    SITE = 4
    CONNECTOR_TYPE = 5
    OPERATOR_DEFAULT = 6


@dataclass(frozen=True)
class TariffAssignment:
    scope: Scope
    key: str  # group id, "station/evse" (see connector_key), station id, site id, connector type, or ""
    tariff_id: str


def connector_key(station_id: str, evse_id: int | None) -> str:
    """Key of a CONNECTOR assignment: 2.x EVSE id, or the 1.6 connectorId (a 1.6 connector is an EVSE)."""
    return f"{station_id}/{evse_id}"


@dataclass(frozen=True)
class TariffContext:
    """What is known about a session when choosing its tariff; `driver_groups` in the driver's order."""

    station_id: str
    evse_id: int | None = None
    site_id: str | None = None
    connector_type: str | None = None
    driver_groups: Sequence[str] = ()

    def candidates(self) -> list[tuple[Scope, str]]:
        keys = [(Scope.DRIVER_GROUP, group) for group in self.driver_groups]
        if self.evse_id is not None:
            keys.append((Scope.CONNECTOR, connector_key(self.station_id, self.evse_id)))
        keys.append((Scope.STATION, self.station_id))
        if self.site_id is not None:
            keys.append((Scope.SITE, self.site_id))
        if self.connector_type is not None:
            keys.append((Scope.CONNECTOR_TYPE, self.connector_type))
        keys.append((Scope.OPERATOR_DEFAULT, ""))
        return keys


def select_tariff(
    assignments: Iterable[TariffAssignment], versions: Iterable[Tariff], context: TariffContext, at: datetime
) -> Tariff | None:
    """The tariff version for a session starting at `at`, by precedence: driver group > connector >
    station > site > connector type > operator default. An assignment whose tariff has no version
    effective at `at` is skipped."""
    by_key: dict[tuple[Scope, str], list[str]] = {}
    for assignment in assignments:
        by_key.setdefault((assignment.scope, assignment.key), []).append(assignment.tariff_id)
    versions = list(versions)
    for key in context.candidates():
        for tariff_id in sorted(by_key.get(key, ())):
            tariff = tariff_version_at(versions, tariff_id, at)
            if tariff is not None:
                return tariff
    return None

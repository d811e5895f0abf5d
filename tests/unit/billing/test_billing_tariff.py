"""Tariff model: OCPI parsing, validation, immutable versions and the documented assignment precedence."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest

from processors.billing.domain import (
    DayOfWeek,
    Dimension,
    PriceComponent,
    Scope,
    Tariff,
    TariffAssignment,
    TariffContext,
    TariffElement,
    TariffRef,
    connector_key,
    minor_unit,
    round_money,
    select_tariff,
    tariff_from_ocpi,
    tariff_version_at,
)

JAN = datetime(2024, 1, 1, tzinfo=UTC)
JUN = datetime(2024, 6, 1, tzinfo=UTC)


def tariff(tariff_id: str, version: int = 1, effective_from: datetime | None = None,
           effective_to: datetime | None = None) -> Tariff:
    element = TariffElement((PriceComponent(Dimension.ENERGY, Decimal("0.30")),))
    return Tariff(id=tariff_id, version=version, currency="EUR", elements=(element,),
                  effective_from=effective_from, effective_to=effective_to)


def test_ocpi_tariff_is_parsed_into_decimals_and_local_restrictions() -> None:
    parsed = tariff_from_ocpi({
        "id": "12", "currency": "EUR", "last_updated": "2018-12-18T17:07:11Z", "elements": [{
            "price_components": [{"type": "ENERGY", "price": 0.25, "vat": 10.0, "step_size": 100}],
            "restrictions": {"start_time": "13:30", "end_time": "19:45", "start_date": "2015-12-24",
                             "end_date": "2015-12-27", "min_kwh": 20, "max_power": 22.5,
                             "day_of_week": ["MONDAY", "SATURDAY"], "min_duration": 600}}]},
        version=3, vat_percent=Decimal(21), time_zone="Europe/Amsterdam")
    (element,) = parsed.elements
    assert element.price_components == (PriceComponent(Dimension.ENERGY, Decimal("0.25"), 100),)
    r = element.restrictions
    assert r is not None
    assert (r.start_time, r.end_time) == (time(13, 30), time(19, 45))
    assert (r.start_date, r.end_date) == (date(2015, 12, 24), date(2015, 12, 27))
    assert (r.min_kwh, r.max_power, r.min_duration) == (Decimal(20), Decimal("22.5"), 600)
    assert r.day_of_week == {DayOfWeek.MONDAY, DayOfWeek.SATURDAY}
    assert parsed.ref == TariffRef("12", 3)
    assert parsed.vat_percent == Decimal(21)


@pytest.mark.parametrize("currency", ["eur", "EURO", "E1R"])
def test_currency_must_be_an_iso_code(currency: str) -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        Tariff(id="T", version=1, currency=currency, elements=tariff("x").elements)


def test_invalid_components_and_discounts_are_refused() -> None:
    with pytest.raises(ValueError, match="invalid price component"):
        PriceComponent(Dimension.TIME, Decimal(1), step_size=0)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        Tariff(id="T", version=1, currency="EUR", elements=tariff("x").elements,
               membership_discounts={"GOLD": Decimal(120)})
    with pytest.raises(ValueError, match="at least one element"):
        Tariff(id="T", version=1, currency="EUR", elements=())


def test_rounding_is_half_up_to_the_minor_unit() -> None:
    assert (minor_unit("EUR"), minor_unit("JPY"), minor_unit("BHD")) == (2, 0, 3)
    assert round_money(Decimal("0.125"), "EUR") == Decimal("0.13")
    assert round_money(Decimal("0.135"), "EUR") == Decimal("0.14")
    assert round_money(Decimal("2.5"), "JPY") == Decimal(3)
    assert round_money(Decimal("1.0005"), "KWD") == Decimal("1.001")
    assert round_money(Decimal(7), "EUR").as_tuple().exponent == -2


def test_the_version_effective_at_a_time_wins() -> None:
    versions = [tariff("T", 1, JAN), tariff("T", 2, JUN), tariff("OTHER", 9, JAN)]
    assert tariff_version_at(versions, "T", datetime(2024, 5, 31, 23, 59, tzinfo=UTC)) == versions[0]
    assert tariff_version_at(versions, "T", JUN) == versions[1]
    assert tariff_version_at(versions, "T", datetime(2023, 12, 31, tzinfo=UTC)) is None
    ended = [tariff("T", 1, JAN, effective_to=JUN)]
    assert tariff_version_at(ended, "T", JUN) is None


FULL = TariffContext(station_id="CS1", evse_id=2, site_id="SITE", connector_type="CCS2",
                     driver_groups=("FLEET", "STAFF"))
ASSIGNMENTS = [
    TariffAssignment(Scope.OPERATOR_DEFAULT, "", "default"),
    TariffAssignment(Scope.CONNECTOR_TYPE, "CCS2", "dc"),
    TariffAssignment(Scope.SITE, "SITE", "site"),
    TariffAssignment(Scope.STATION, "CS1", "station"),
    TariffAssignment(Scope.CONNECTOR, connector_key("CS1", 2), "connector"),
    TariffAssignment(Scope.DRIVER_GROUP, "STAFF", "staff"),
    TariffAssignment(Scope.DRIVER_GROUP, "FLEET", "fleet"),
]
VERSIONS = [tariff(t) for t in ("default", "dc", "site", "station", "connector", "staff", "fleet")]


@pytest.mark.parametrize(("dropped", "expected"), [
    (set(), "fleet"),  # the driver's first group
    ({"fleet"}, "staff"),
    ({"fleet", "staff"}, "connector"),
    ({"fleet", "staff", "connector"}, "station"),
    ({"fleet", "staff", "connector", "station"}, "site"),
    ({"fleet", "staff", "connector", "station", "site"}, "dc"),
    ({"fleet", "staff", "connector", "station", "site", "dc"}, "default"),
])
def test_precedence_driver_group_connector_station_site_type_default(dropped: set[str], expected: str) -> None:
    assignments = [a for a in ASSIGNMENTS if a.tariff_id not in dropped]
    chosen = select_tariff(assignments, VERSIONS, FULL, JUN)
    assert chosen is not None
    assert chosen.id == expected


def test_an_assignment_without_an_effective_version_is_skipped() -> None:
    versions = [tariff("station", 1, effective_from=datetime(2030, 1, 1, tzinfo=UTC)), tariff("default")]
    assignments = [TariffAssignment(Scope.STATION, "CS1", "station"),
                   TariffAssignment(Scope.OPERATOR_DEFAULT, "", "default")]
    chosen = select_tariff(assignments, versions, TariffContext(station_id="CS1"), JUN)
    assert chosen is not None
    assert chosen.id == "default"


def test_no_assignment_no_tariff() -> None:
    assert select_tariff([], VERSIONS, FULL, JUN) is None


def test_a_session_keeps_the_version_effective_at_its_start() -> None:
    versions = [tariff("T", 1, JAN), tariff("T", 2, JUN)]
    assignments = [TariffAssignment(Scope.OPERATOR_DEFAULT, "", "T")]
    started = datetime(2024, 5, 31, 23, 30, tzinfo=UTC)  # ends after the new version took effect
    chosen = select_tariff(assignments, versions, TariffContext(station_id="CS1"), started)
    assert chosen is not None
    assert chosen.ref == TariffRef("T", 1)

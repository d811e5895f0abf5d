"""The demo fleet of `make up`: registered through the read API (the real command path), then simulated.

Stations of all three OCPP versions in two locations, drivers with RFID cards, a tariff assigned as the operator
default, and `csms sim` running sessions against the edge, so a newcomer sees chargers booting, sessions running,
costs rising and invoices appearing within a minute.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

DEMO_PREFIX = "DEMO"
DEMO_TOKENS = ("DEMO-RFID-0001", "DEMO-RFID-0002", "DEMO-RFID-0003", "DEMO-RFID-0004")
LOCATIONS = (
    ("LOC-BERLIN-HBF", "Berlin Hauptbahnhof P+R", "Europaplatz 1", "Berlin", "10557", 52.52508, 13.36941),
    ("LOC-MUNICH-ODS", "Munich Odeonsplatz Garage", "Odeonsplatz 2", "München", "80539", 48.14248, 11.57745),
)
VERSIONS = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")


class DemoError(RuntimeError):
    """The demo data could not be registered."""


def station_ids(count: int) -> list[str]:
    """The ids `csms sim --prefix DEMO` uses (bench/sim/fleet.py: <prefix>-<index:05d>)."""
    return [f"{DEMO_PREFIX}-{i:05d}" for i in range(count)]


class _Api:
    def __init__(self, base: str, username: str, password: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=30)
        self._login(username, password)

    def _login(self, username: str, password: str) -> None:
        deadline = time.monotonic() + 120
        while True:
            try:
                response = self.client.post("/api/v1/auth/token", data={"username": username, "password": password})
                if response.status_code == 200:
                    self.client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise DemoError("could not log in to the read API")
            time.sleep(1)

    def command(self, path: str, body: dict[str, Any]) -> None:
        """POST a command; created, already there (409) and still running (202) all count as done."""
        response = self.client.post(path, json=body)
        if response.status_code not in (200, 201, 202, 409):
            raise DemoError(f"{path}: {response.status_code} {response.text[:300]}")


def _station(index: int, station_id: str) -> dict[str, Any]:
    location = LOCATIONS[index % len(LOCATIONS)]
    version = VERSIONS[index % len(VERSIONS)]
    return {
        "station_id": station_id, "name": f"Demo charger {index + 1}", "operator_id": "demo-operator",
        "location_id": location[0], "latitude": round(location[5] + 0.0004 * (index // 2), 6),
        "longitude": round(location[6] + 0.0006 * (index // 2), 6), "address": location[2],
        "security_profile": 0, "heartbeat_interval_s": 60, "allowed_ocpp_versions": [version],
        "evses": [{"evse_id": 1, "max_power_w": 22_000,
                   "connectors": [{"connector_id": 1, "connector_type": "TYPE_2" if index % 2 else "CCS2",
                                   "max_power_w": 22_000 if index % 2 else 150_000}]}],
    }


def seed(base: str, username: str, password: str, *, stations: int) -> None:
    """Register the demo fleet (idempotent: existing things answer 409 and are left alone)."""
    api = _Api(base, username, password)
    for loc_id, name, address, city, postal, lat, lon in LOCATIONS:
        api.command("/api/v1/locations", {"location_id": loc_id, "name": name, "operator_id": "demo-operator",
                                          "address": address, "city": city, "postal_code": postal, "country": "DEU",
                                          "latitude": lat, "longitude": lon})
    for index, sid in enumerate(station_ids(stations)):
        api.command("/api/v1/stations", _station(index, sid))
    # cards 1-3 belong to members (1 and 2 pay from a prepaid wallet, 3 gets the monthly invoice); card 4 is an
    # ad-hoc card with no driver, so each of its sessions gets an invoice of its own at once
    for n, token in enumerate(DEMO_TOKENS, start=1):
        body: dict[str, Any] = {"id_token": token, "token_type": "ISO14443", "allow_concurrent_sessions": True}
        if n < len(DEMO_TOKENS):
            driver = f"demo-driver-{n}"
            api.command("/api/v1/drivers", {"driver_id": driver, "user_id": driver, "name": f"Demo Driver {n}",
                                            "email": f"driver{n}@demo.invalid", "phone": f"+4930000000{n}"})
            body["driver_id"] = driver
        api.command("/api/v1/tokens", body)
    for n in (1, 2):
        wallet = api.client.get(f"/api/v1/wallets/demo-driver-{n}")
        if wallet.status_code != 200 or str(wallet.json().get("balance", "0")) in ("0", "0.00"):
            api.command(f"/api/v1/wallets/demo-driver-{n}/top-ups", {"amount": "50.00", "currency": "EUR"})
    api.command("/api/v1/tariffs", {"id": "DEMO-AC-DC", "currency": "EUR", "vat_percent": "19", "elements": [
        {"price_components": [{"type": "FLAT", "price": "0.50"}]},
        {"price_components": [{"type": "ENERGY", "price": "0.39", "step_size": 1},
                              {"type": "TIME", "price": "1.20", "step_size": 60}]}]})
    api.command("/api/v1/tariffs/DEMO-AC-DC/assignments", {"scope": "OPERATOR_DEFAULT", "key": ""})

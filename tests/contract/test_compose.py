"""compose.yaml cannot run here (no Docker engine), so keep it valid and in step with the services."""

from __future__ import annotations

from pathlib import Path

import yaml

from csms.system import SERVICES

REPO = Path(__file__).resolve().parents[2]


def test_compose_is_valid_yaml_with_every_service_and_port() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    services = compose["services"]
    assert {"kafka", "postgres"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    for service in SERVICES:
        assert service.name in services, service.name
        ports = " ".join(services[service.name].get("ports", []))
        assert f"{service.port}:{service.port}" in ports, service.name


def test_pyproject_declares_an_entry_point_per_service() -> None:
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["csms"] == "csms.cli:app"
    for name in ("csms-edge", "csms-stations", "csms-authorization", "csms-billing", "csms-monitoring",
                 "csms-read-api"):
        assert name in scripts

"""Settings of the stations processor (env prefix CSMS_STATIONS_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from processors.runtime import ProcessorSettings


class StationsSettings(ProcessorSettings):
    """The stations processor: registry, lifecycle and live state of charging stations (port 3001)."""

    model_config = SettingsConfigDict(env_prefix="CSMS_STATIONS_", env_nested_delimiter="__", extra="ignore")

    http_port: int = Field(default=3001, ge=0, le=65535)
    offline_missed_heartbeats: int = Field(
        default=2, ge=1, description="A station is offline after this many heartbeat intervals without a message"
    )
    offline_grace_s: float = Field(default=60.0, ge=0, description="Added to the missed-heartbeats window")
    offline_check_interval_s: float = Field(default=15.0, gt=0, description="How often the offline watch runs")

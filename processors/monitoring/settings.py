"""Settings of the monitoring processor (env prefix `CSMS_MONITORING_`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from processors.runtime import ProcessorSettings


class MonitoringSettings(ProcessorSettings):
    """The runtime's settings plus the evaluator, webhook and retention knobs of monitoring."""

    model_config = SettingsConfigDict(env_prefix="CSMS_MONITORING_", env_nested_delimiter="__", extra="ignore")

    http_port: int = Field(default=3004, ge=0, le=65535)
    evaluate_every_s: float = Field(default=1.0, gt=0, description="Period of the time-driven alert evaluator")
    webhook_signing_key: SecretStr | None = Field(
        default=None, repr=False,
        description="Master key from which each rule's webhook secret is derived; no key = webhooks not sent")
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    webhook_max_attempts: int = Field(default=8, ge=1)
    webhook_backoff_s: float = Field(default=1.0, gt=0, description="First retry delay; doubles per attempt")
    webhook_backoff_max_s: float = Field(default=300.0, gt=0)
    raw_retention_days: int = Field(default=90, ge=1, description="Days of raw sampled values kept")
    rollup_1m_retention_days: int = Field(default=400, ge=1)
    partitions_ahead_days: int = Field(default=3, ge=1)
    maintenance_every_s: float = Field(default=3600.0, gt=0)
    rollup_every_s: float = Field(
        default=5.0, gt=0, description="Period of the roll-up fold: how far the 1-minute / 1-hour roll-ups may lag")
    rollup_fold_batches: int = Field(default=500, ge=1, description="Stored batches folded per transaction")

"""Settings of the billing processor (env prefix CSMS_BILLING_, health and metrics on port 3003)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from processors.runtime import ProcessorSettings


class BillingSettings(ProcessorSettings):
    """Everything the billing processor reads from its environment, once, in `__main__`."""

    model_config = SettingsConfigDict(env_prefix="CSMS_BILLING_", env_nested_delimiter="__", extra="ignore")

    http_port: int = Field(default=3003, ge=0, le=65535)
    stale_after_s: int = Field(default=24 * 3600, ge=60, description="close a session not heard from for this long")
    housekeeping_interval_s: float = Field(default=30.0, gt=0, description="stale close, overlaps, caps, CostUpdated")
    cost_update_interval_s: int = Field(default=300, ge=10, description="min. seconds between two CostUpdated")
    overlap_window_days: int = Field(default=3, ge=1, description="how far back overlaps are looked for")
    update_interval_s: float = Field(default=60.0, ge=0, description="min. seconds between SessionUpdated events")
    session_cache_size: int = Field(default=50_000, ge=0, description="active sessions kept in memory")
    gc_gen0_threshold: int = Field(default=100_000, ge=0, description="allocations between two young-generation "
                                   "garbage collections (Python's default 700 costs the hot path ~30%); 0 keeps it")
    default_operator_id: str = "default"
    payment_webhook_secret: SecretStr | None = Field(default=None, description="HMAC key of the local provider")

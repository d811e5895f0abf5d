"""Settings of the read API (env prefix CSMS_API_, port 3000). Secrets have no defaults."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from csms.settings import ServiceSettings

DOMAIN_DATABASES = {"stations": "csms_stations", "drivers": "csms_drivers", "billing": "csms_billing",
                    "monitoring": "csms_monitoring"}


class ApiSettings(ServiceSettings):
    """Everything the read API reads from its environment, once, in `__main__` (or a test)."""

    model_config = SettingsConfigDict(env_prefix="CSMS_API_", env_nested_delimiter="__", extra="ignore")

    http_port: int = Field(default=3000, ge=0, le=65535)
    database_url: str = Field(description="PostgreSQL URL of the API's own database (csms_api)")
    stations_database_url: str | None = Field(default=None, description="default: database_url with csms_stations")
    drivers_database_url: str | None = Field(default=None, description="default: database_url with csms_drivers")
    billing_database_url: str | None = Field(default=None, description="default: database_url with csms_billing")
    monitoring_database_url: str | None = Field(default=None, description="default: database_url with csms_monitoring")
    workers: int = Field(default=1, ge=1, le=64, description="uvicorn worker processes on the one port")
    pool_size: int = Field(default=10, ge=1, description="connections per database and worker process")
    migrate_on_start: bool = True

    admin_username: str = "admin"
    admin_password: SecretStr = Field(description="password of the first admin (required; `make up` sets a demo one)")
    jwt_secret: SecretStr = Field(min_length=32, description="HMAC key of the access tokens, 32+ characters (required)")
    access_token_ttl_s: int = Field(default=900, ge=30)
    refresh_token_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)

    command_timeout_s: float = Field(default=5.0, gt=0, description="wait this long for an outcome, then 202")
    ocpp_command_ttl_s: int = Field(default=300, ge=1, description="expiry the edge honours on charger commands")
    payment_webhook_secret: SecretStr | None = Field(default=None, description="HMAC key of the payment provider")
    webhook_max_attempts: int = Field(default=8, ge=1)
    webhook_backoff_s: float = Field(default=2.0, gt=0, description="first retry delay; doubles per attempt")
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    live_queue_size: int = Field(default=1000, ge=10)

    def domain_url(self, domain: str) -> str:
        """The database URL of a domain: its own setting, else `database_url` with the domain's database name."""
        explicit: str | None = getattr(self, f"{domain}_database_url")
        if explicit:
            return explicit
        url, sep, query = self.database_url.partition("?")
        base, _, _ = url.rpartition("/")
        return f"{base}/{DOMAIN_DATABASES[domain]}{sep}{query}"

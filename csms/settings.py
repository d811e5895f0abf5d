"""Typed settings shared by every deployable. Each service subclasses `ServiceSettings` with its own env prefix.

Nothing else in the code base reads `os.environ`: settings are read once in `__main__` (or a lifespan) and passed
down. A missing or malformed setting stops the service with a message that names it.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(SystemExit):
    """Raised (as a clean exit) when settings are missing or invalid."""


class KafkaSettings(BaseModel):
    """How to reach Kafka and frame records on it."""

    bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    schema_registry_url: str | None = None
    request_timeout_ms: int = Field(default=10_000, ge=100)
    send_timeout_s: float = Field(default=5.0, gt=0)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = Field(default=None, repr=False)
    # Producer record-batch compression; consumers decompress whatever they read (cramjam provides the codecs).
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "none"


class ServiceSettings(BaseSettings):
    """Settings every service has; `env_prefix` is set by each subclass (e.g. `CSMS_BILLING_`)."""

    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="ignore")

    kafka: KafkaSettings = KafkaSettings()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    http_host: str = "127.0.0.1"


T = TypeVar("T", bound=BaseSettings)


def load_settings(cls: type[T], **overrides: Any) -> T:
    """Build `cls` from the environment; exit with a message naming each bad setting on failure."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", ""))
        problems = []
        for err in exc.errors():
            name = prefix + "__".join(str(part) for part in err["loc"]).upper()
            problems.append(f"  {name}: {err['msg']}")
        raise SettingsError(f"{cls.__name__}: invalid or missing settings:\n" + "\n".join(problems)) from None

"""Settings of the authorization processor (env prefix CSMS_AUTHORIZATION_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from processors.runtime import ProcessorSettings


class AuthorizationSettings(ProcessorSettings):
    """The authorization processor: drivers, membership levels, id tokens, authorization records (port 3002)."""

    model_config = SettingsConfigDict(env_prefix="CSMS_AUTHORIZATION_", env_nested_delimiter="__", extra="ignore")

    http_port: int = Field(default=3002, ge=0, le=65535)

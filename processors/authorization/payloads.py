"""Validated payloads of the authorization commands (pure; a validation error answers INVALID)."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from processors.authorization.domain import TOKEN_TYPES

EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"  # a sanity check only: the address is proven by mailing it, not by regex


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HoursWindow(_Payload):
    """A weekly window when a driver may charge: ISO weekdays (1 = Monday) and a local time range."""

    days: list[int] = Field(min_length=1)
    start: time
    end: time

    @field_validator("days")
    @classmethod
    def _days(cls, days: list[int]) -> list[int]:
        if any(d < 1 or d > 7 for d in days):
            raise ValueError("days are ISO weekdays 1..7")
        return sorted(set(days))


class DriverFields(_Payload):
    """What CreateDriver and UpdateDriver may set; in UpdateDriver only the fields sent change."""

    user_id: str | None = Field(default=None, max_length=100)
    name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=254, pattern=EMAIL)
    phone: str | None = Field(default=None, max_length=32, pattern=r"^\+?[0-9 ()-]{3,32}$")
    membership_level: str = Field(default="BASIC", max_length=50)
    allowed_station_ids: list[str] | None = None
    allowed_location_ids: list[str] | None = None
    allowed_hours: list[HoursWindow] | None = None


class CreateDriver(DriverFields):
    driver_id: str | None = Field(default=None, min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(max_length=254, pattern=EMAIL)


class UpdateDriver(DriverFields):
    driver_id: str | None = Field(default=None, min_length=1, max_length=100)
    status: Literal["ACTIVE", "SUSPENDED"] | None = None


class DriverRef(_Payload):
    driver_id: str | None = Field(default=None, min_length=1, max_length=100)


class SetMembershipLevel(DriverRef):
    level: str = Field(min_length=1, max_length=50)


class DefineMembershipLevel(_Payload):
    level: str | None = Field(default=None, min_length=1, max_length=50, pattern=r"^[A-Z0-9_]+$")
    name: str = Field(min_length=1, max_length=100)
    benefits: dict[str, Any] = Field(default_factory=dict)


class Caps(_Payload):
    """Budget caps billing enforces (None = no cap)."""

    energy_wh_per_session: int | None = Field(default=None, ge=0)
    energy_wh_per_month: int | None = Field(default=None, ge=0)
    seconds_per_session: int | None = Field(default=None, ge=0)
    seconds_per_month: int | None = Field(default=None, ge=0)
    money_per_session: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    money_per_month: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")

    @model_validator(mode="after")
    def _currency(self) -> Caps:
        if (self.money_per_session is not None or self.money_per_month is not None) and self.currency is None:
            raise ValueError("money caps need a currency")
        return self


class TokenRef(_Payload):
    """A token by key ('<type>:<id>', or the command's aggregate id) or by id_token + token_type."""

    token_key: str | None = None
    id_token: str | None = Field(default=None, min_length=1, max_length=255)
    token_type: str = "ISO14443"

    @field_validator("token_type")
    @classmethod
    def _type(cls, value: str) -> str:
        if value not in TOKEN_TYPES:
            raise ValueError(f"token_type must be one of {sorted(TOKEN_TYPES)}")
        return value


class TokenFields(TokenRef):
    expires_at: datetime | None = None
    group_id: str | None = Field(default=None, max_length=36)
    allow_concurrent_sessions: bool = False
    caps: Caps = Field(default_factory=Caps)

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("expires_at must carry a timezone (UTC)")
        return value


class IssueToken(TokenFields):
    driver_id: str | None = None


class UpdateToken(TokenFields):
    pass


class ChangeToken(TokenRef):
    """BlockToken, UnblockToken, ExpireToken, ReportTokenLost, DeleteToken."""

    reason: str | None = Field(default=None, max_length=500)


class TransferToken(TokenRef):
    to_driver_id: str | None = None
    reason: str | None = Field(default=None, max_length=500)

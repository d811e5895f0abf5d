"""Validated payloads of the stations commands (pure; a validation error answers INVALID)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from processors.stations.domain import ConnectorType, coordinate

OcppVersion = Literal["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]
StationId = Field(default=None, min_length=1, max_length=64, pattern=r"^[^\s/]+$")
# OCPP 1.6 security whitepaper / 2.0.1 BasicAuthPassword: 16 to 40 characters
Password = Field(default=None, min_length=16, max_length=40)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConnectorSpec(_Payload):
    connector_id: int = Field(ge=1)
    connector_type: ConnectorType
    max_power_w: int | None = Field(default=None, ge=0)


class EvseSpec(_Payload):
    evse_id: int = Field(ge=1)
    max_power_w: int | None = Field(default=None, ge=0)
    connectors: list[ConnectorSpec] = Field(default_factory=list)


class _Located(_Payload):
    latitude: Decimal | None = None
    longitude: Decimal | None = None

    @field_validator("latitude", mode="before")
    @classmethod
    def _lat(cls, value: Any) -> Decimal | None:
        return coordinate(value, bound=90, name="latitude")

    @field_validator("longitude", mode="before")
    @classmethod
    def _lon(cls, value: Any) -> Decimal | None:
        return coordinate(value, bound=180, name="longitude")


class StationFields(_Located):
    """What RegisterStation and UpdateStation may set; in UpdateStation only the fields sent change."""

    name: str | None = Field(default=None, max_length=200)
    operator_id: str | None = Field(default=None, max_length=100)
    location_id: str | None = Field(default=None, max_length=100)
    address: str | None = Field(default=None, max_length=500)
    security_profile: int = Field(default=0, ge=0, le=3)
    password: SecretStr | None = Password
    # what read_api sends: the argon2id hash, so no password ever travels on stations.commands
    password_hash: str | None = Field(default=None, repr=False, pattern=r"^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$",
                                            max_length=300)
    heartbeat_interval_s: int = Field(default=300, ge=10, le=86_400)
    allowed_ocpp_versions: list[OcppVersion] = Field(default_factory=list)
    evses: list[EvseSpec] = Field(default_factory=list)


class RegisterStation(StationFields):
    station_id: str | None = StationId
    status: Literal["ACCEPTED", "PENDING"] = "ACCEPTED"


class UpdateStation(StationFields):
    station_id: str | None = StationId


class ChangeStatus(_Payload):
    """ApproveStation, RejectStation, DecommissionStation."""

    station_id: str | None = StationId
    reason: str | None = Field(default=None, max_length=500)


class DefineLocation(_Located):
    location_id: str | None = Field(default=None, min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    operator_id: str | None = Field(default=None, max_length=100)
    address: str | None = Field(default=None, max_length=500)
    city: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, min_length=2, max_length=3)

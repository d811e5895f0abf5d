"""A typed view of `csms.ocpp.OcppMessage` events for processors (contract decoding only, no domain logic)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from processors.runtime.events import Event

OCPP_MESSAGE = "csms.ocpp.OcppMessage"
CONNECTION_EVENT = "csms.ocpp.ConnectionEvent"


@dataclass(frozen=True, slots=True)
class OcppExchange:
    """One OCPP frame as published by the edge.

    For the edge's answers to charger CALLs (direction CSMS_TO_CHARGER, message_type CALLRESULT/CALLERROR) and for
    chargers' answers to CSMS calls, `request` holds the CALL's payload, so a consumer sees request and answer at
    once: e.g. a StartTransaction CALLRESULT has `request` (idTag, meterStart...) and `payload` (transactionId...).
    """

    event_id: str
    station_id: str
    ocpp_version: str
    direction: str
    message_type: str
    message_id: str
    action: str | None
    payload: dict[str, Any] | None
    request: dict[str, Any] | None
    error_code: str | None
    received_at: datetime
    charger_timestamp: datetime | None
    command_id: str | None

    @property
    def is_v16(self) -> bool:
        return self.ocpp_version == "ocpp1.6"

    @property
    def answered_by_csms(self) -> bool:
        """A charger CALL that the edge answered successfully (the usual thing processors apply)."""
        return self.direction == "CSMS_TO_CHARGER" and self.message_type == "CALLRESULT"

    @property
    def answered_by_charger(self) -> bool:
        """The charger's CALLRESULT to a CSMS-initiated call."""
        return self.direction == "CHARGER_TO_CSMS" and self.message_type == "CALLRESULT"


def _json(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    value = orjson.loads(text)
    return value if isinstance(value, dict) else None


def exchange(event: Event) -> OcppExchange:
    """Decode the OCPP view of an `ocpp.messages` event."""
    v = event.value
    assert v is not None
    return OcppExchange(
        event_id=event.event_id,
        station_id=v["station_id"],
        ocpp_version=v["ocpp_version"],
        direction=v["direction"],
        message_type=v["message_type"],
        message_id=v["message_id"],
        action=v.get("action"),
        payload=_json(v.get("payload_json")),
        request=_json(v.get("request_payload_json")),
        error_code=v.get("error_code"),
        received_at=v["received_at"],
        charger_timestamp=v.get("charger_timestamp"),
        command_id=v.get("command_id"),
    )

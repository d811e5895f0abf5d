"""A typed view of `csms.ocpp.OcppMessage` events for processors (contract decoding only, no domain logic)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from processors.runtime.events import Event
from schemas import header

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


def skip_ocpp(
    types: Collection[str], actions: Collection[str] | None = None
) -> Callable[[Sequence[tuple[str, bytes]]], bool]:
    """A `ProcessorSpec.skip` for `ocpp.messages`: skips records whose `ocpp_type` header (CALL, CALLRESULT,
    CALLERROR, SEND...) is not in `types`, or whose `ocpp_action` header is not in `actions` (when given).
    Records without those headers (other topics, events published before the edge added them) are kept."""
    wanted_types = frozenset(t.encode() for t in types)
    wanted_actions = None if actions is None else frozenset(a.encode() for a in actions)

    def skip(headers: Sequence[tuple[str, bytes]]) -> bool:
        kind = header(headers, "ocpp_type")
        if kind is not None and kind not in wanted_types:
            return True
        if wanted_actions is None:
            return False
        action = header(headers, "ocpp_action")
        return action is not None and action not in wanted_actions

    return skip

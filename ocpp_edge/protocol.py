"""The OCPP-J RPC layer of the edge: parse frames, validate payloads, serialise answers. Pure and fast.

Bytes in, frames or bytes out: no sockets, no Kafka. Payloads are checked against the official JSON schemas
shipped in the ``ocpp`` package, compiled with fastjsonschema (see ``_schemas``).

Exceptions::

    Exception
     └── ProtocolViolation   a frame or payload breaks OCPP-J: carries the error code in the spelling of the
                             connection's version, the message id ("-1" when unreadable) and a description
                             of at most 255 characters; ``error_reply`` turns it into the answer to send.

Which code for which fault (``Fault`` -> ``error_code``), from the RPC error tables of OCPP-J 1.6 §4.2.3
(table 7) and OCPP 2.0.1 / 2.1 part 4 §4.3:

    fault        when                                        1.6                            2.x
    SYNTAX       not UTF-8 JSON                              FormationViolation             FormatViolation
    FRAME        not an RPC frame: not an array, bad id,     FormationViolation             RpcFrameworkError
                 bad element count or element type
    PAYLOAD      payload is not a JSON object                FormationViolation             FormatViolation
    MESSAGE_TYPE message type number unknown to the version  FormationViolation             MessageTypeNotSupported
    TYPE         schema "type"                               TypeConstraintViolation        TypeConstraintViolation
    OCCURRENCE   "required", "minItems", "maxItems"          OccurenceConstraintViolation   OccurrenceConstraint…
    PROPERTY     "enum", "maxLength", "pattern", "format",   PropertyConstraintViolation    PropertyConstraint…
                 "minimum", "maximum", "multipleOf"
    STRUCTURE    "additionalProperties" (field not in PDU)   FormationViolation             ProtocolError
    (no schema for the action)                               NotImplemented                 NotImplemented
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, Final

import orjson
from fastjsonschema import JsonSchemaValueException

from ocpp_edge import _schemas
from ocpp_edge._schemas import VERSIONS, Fault, Kind, warm_up

# fmt: off
__all__ = [
    "CHARGER_INITIATED", "CSMS_INITIATED", "MAX_DESCRIPTION_LENGTH", "MAX_MESSAGE_ID_LENGTH",
    "UNKNOWN_MESSAGE_ID", "VERSIONS", "Call", "CallError", "CallResult", "CallResultError", "ErrorCode",
    "Fault", "Frame", "MessageType", "ProtocolViolation", "Send", "call", "call_error", "call_result",
    "call_result_error", "error_code", "error_reply", "parse_frame", "validate_call", "validate_result",
    "validate_send", "warm_up",
]
# fmt: on

UNKNOWN_MESSAGE_ID: Final = "-1"
MAX_MESSAGE_ID_LENGTH: Final = 36
MAX_DESCRIPTION_LENGTH: Final = 255
# Datetimes in payloads go out as UTC with a "Z" suffix; some chargers reject "+00:00".
_DUMPS_OPTIONS: Final = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


class MessageType(IntEnum):
    """Message type numbers of the RPC framework; 5 and 6 exist in OCPP 2.1 only."""

    CALL = 2
    CALL_RESULT = 3
    CALL_ERROR = 4
    CALL_RESULT_ERROR = 5
    SEND = 6


class ErrorCode(StrEnum):
    """Every RPC error code of the three versions; 1.6 spells two of them differently and lacks two."""

    FORMATION_VIOLATION = "FormationViolation"  # 1.6 only
    FORMAT_VIOLATION = "FormatViolation"  # 2.x only
    OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"  # 1.6 only, sic
    OCCURRENCE_CONSTRAINT_VIOLATION = "OccurrenceConstraintViolation"  # 2.x only
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    PROTOCOL_ERROR = "ProtocolError"
    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    SECURITY_ERROR = "SecurityError"
    GENERIC_ERROR = "GenericError"
    MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"  # 2.x only
    RPC_FRAMEWORK_ERROR = "RpcFrameworkError"  # 2.x only


_CODES_16: Final = {
    Fault.SYNTAX: ErrorCode.FORMATION_VIOLATION,
    Fault.FRAME: ErrorCode.FORMATION_VIOLATION,
    Fault.PAYLOAD: ErrorCode.FORMATION_VIOLATION,
    Fault.MESSAGE_TYPE: ErrorCode.FORMATION_VIOLATION,
    Fault.TYPE: ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    Fault.OCCURRENCE: ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    Fault.PROPERTY: ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    Fault.STRUCTURE: ErrorCode.FORMATION_VIOLATION,
}
_CODES_2X: Final = {
    **_CODES_16,
    Fault.SYNTAX: ErrorCode.FORMAT_VIOLATION,
    Fault.FRAME: ErrorCode.RPC_FRAMEWORK_ERROR,
    Fault.PAYLOAD: ErrorCode.FORMAT_VIOLATION,
    Fault.MESSAGE_TYPE: ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED,
    Fault.OCCURRENCE: ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION,
    Fault.STRUCTURE: ErrorCode.PROTOCOL_ERROR,
}
_CODES: Final = {"ocpp1.6": _CODES_16, "ocpp2.0.1": _CODES_2X, "ocpp2.1": _CODES_2X}
_TYPES: Final = {"ocpp1.6": frozenset({2, 3, 4}), "ocpp2.0.1": frozenset({2, 3, 4}), "ocpp2.1": frozenset(range(2, 7))}
_ARITY: Final = {2: 4, 3: 3, 4: 5, 5: 5, 6: 4}

CHARGER_INITIATED: Final[Mapping[str, frozenset[str]]] = {
    version: _schemas.CHARGER_SENT[version] & _schemas.actions(version) for version in VERSIONS
}
CSMS_INITIATED: Final[Mapping[str, frozenset[str]]] = {
    version: (_schemas.actions(version) - _schemas.CHARGER_SENT[version]) | _schemas.BIDIRECTIONAL
    for version in VERSIONS
}


@dataclass(frozen=True, slots=True)
class Call:
    """[2, messageId, action, payload]: a request."""

    message_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallResult:
    """[3, messageId, payload]: the answer to a Call."""

    message_id: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallError:
    """[4, messageId, errorCode, errorDescription, errorDetails]: the failure of a Call."""

    message_id: str
    error_code: str
    error_description: str
    error_details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallResultError:
    """[5, messageId, errorCode, errorDescription, errorDetails] (2.1): a CallResult that was rejected."""

    message_id: str
    error_code: str
    error_description: str
    error_details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Send:
    """[6, messageId, action, payload] (2.1): a message that gets no answer at all."""

    message_id: str
    action: str
    payload: dict[str, Any]


Frame = Call | CallResult | CallError | CallResultError | Send


class ProtocolViolation(Exception):
    """A frame or payload that breaks OCPP-J, with the error code the connection's version prescribes."""

    def __init__(self, code: str, message_id: str, description: str, message_type: int | None = None) -> None:
        self.code = code
        self.message_id = message_id
        self.description = _clip(description)
        self.message_type = message_type  # the frame's type number, when it could be read
        super().__init__(f"{code}: {self.description}")


def error_code(version: str, fault: Fault) -> ErrorCode:
    """The RPC error code `version` uses for `fault`."""
    return _codes(version)[fault]


def parse_frame(raw: str | bytes, version: str) -> Frame:
    """Decode one WebSocket message into a frame; raise ProtocolViolation when it is not valid OCPP-J."""
    codes = _codes(version)
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtocolViolation(codes[Fault.SYNTAX], UNKNOWN_MESSAGE_ID, f"not UTF-8 JSON: {exc}") from None
    if type(frame) is not list or not frame:
        raise ProtocolViolation(codes[Fault.FRAME], UNKNOWN_MESSAGE_ID, "a frame must be a non-empty array")
    message_id, type_id = _readable_id(frame), frame[0]
    reply_id = UNKNOWN_MESSAGE_ID if message_id is None else message_id
    if type(type_id) is not int:
        raise ProtocolViolation(codes[Fault.FRAME], reply_id, "message type must be an integer")
    if type_id not in _TYPES[version]:
        raise ProtocolViolation(
            codes[Fault.MESSAGE_TYPE], reply_id, f"message type {type_id} is not part of {version}", type_id
        )
    if message_id is None:
        raise ProtocolViolation(
            codes[Fault.FRAME], reply_id, "message id must be a string of 1 to 36 characters", type_id
        )
    if len(frame) != _ARITY[type_id]:
        raise ProtocolViolation(
            codes[Fault.FRAME],
            message_id,
            f"message type {type_id} has {_ARITY[type_id]} elements, not {len(frame)}",
            type_id,
        )
    return _build(frame, type_id, message_id, codes)


def validate_call(version: str, action: str, payload: Any, *, message_id: str = UNKNOWN_MESSAGE_ID) -> None:
    """Check a CALL payload against the action's request schema; raise ProtocolViolation if it fails."""
    _validate(version, action, "request", payload, message_id, MessageType.CALL)


def validate_result(version: str, action: str, payload: Any, *, message_id: str = UNKNOWN_MESSAGE_ID) -> None:
    """Check a CALLRESULT payload against the action's response schema; raise ProtocolViolation if it fails."""
    _validate(version, action, "response", payload, message_id, MessageType.CALL_RESULT)


def validate_send(version: str, action: str, payload: Any, *, message_id: str = UNKNOWN_MESSAGE_ID) -> None:
    """Check a SEND payload (2.1) against the action's schema; raise ProtocolViolation if it fails."""
    _validate(version, action, "send", payload, message_id, MessageType.SEND)


def call(message_id: str, action: str, payload: dict[str, Any]) -> bytes:
    """Serialise a CALL."""
    return orjson.dumps([2, message_id, action, payload], option=_DUMPS_OPTIONS)


def call_result(message_id: str, payload: dict[str, Any]) -> bytes:
    """Serialise a CALLRESULT."""
    return orjson.dumps([3, message_id, payload], option=_DUMPS_OPTIONS)


def call_error(message_id: str, code: str, description: str, details: dict[str, Any] | None = None) -> bytes:
    """Serialise a CALLERROR; the description is cut to the 255 characters the specification allows."""
    return orjson.dumps([4, message_id, code, _clip(description), details or {}], option=_DUMPS_OPTIONS)


def call_result_error(message_id: str, code: str, description: str, details: dict[str, Any] | None = None) -> bytes:
    """Serialise a CALLRESULTERROR (2.1 only): the answer to a CALLRESULT that cannot be processed."""
    return orjson.dumps([5, message_id, code, _clip(description), details or {}], option=_DUMPS_OPTIONS)


def error_reply(violation: ProtocolViolation, version: str) -> bytes | None:
    """The frame to answer `violation` with, or None where the specification wants no answer.

    SEND, CALLERROR and CALLRESULTERROR are never answered (2.1 part 4 §4.2.4: "The receiver SHALL NOT
    respond to a SEND message"); a bad CALLRESULT gets a CALLRESULTERROR in 2.1 and nothing before it;
    everything else, including unreadable frames (id "-1", 2.x part 4 §4.2.3), gets a CALLERROR.
    """
    kind = violation.message_type if violation.message_type in _TYPES[version] else None
    if kind in (MessageType.SEND, MessageType.CALL_ERROR, MessageType.CALL_RESULT_ERROR):
        return None
    if kind == MessageType.CALL_RESULT:
        if version != "ocpp2.1":
            return None
        return call_result_error(violation.message_id, violation.code, violation.description)
    return call_error(violation.message_id, violation.code, violation.description)


def _codes(version: str) -> dict[Fault, ErrorCode]:
    try:
        return _CODES[version]
    except KeyError:
        raise ValueError(f"unsupported OCPP version {version!r}; expected one of {VERSIONS}") from None


def _readable_id(frame: list[Any]) -> str | None:
    """The message id if it is a valid one (string[36], non-empty), else None."""
    if len(frame) > 1:
        candidate = frame[1]
        if type(candidate) is str and 0 < len(candidate) <= MAX_MESSAGE_ID_LENGTH:
            return candidate
    return None


def _build(frame: list[Any], type_id: int, message_id: str, codes: dict[Fault, ErrorCode]) -> Frame:
    def violation(fault: Fault, description: str) -> ProtocolViolation:
        return ProtocolViolation(codes[fault], message_id, description, type_id)

    if type_id == MessageType.CALL_RESULT:
        return CallResult(message_id, _payload(frame[2], violation))
    if type_id in (MessageType.CALL, MessageType.SEND):
        action = frame[2]
        if type(action) is not str or not action:
            raise violation(Fault.FRAME, "action must be a non-empty string")
        message = Call if type_id == MessageType.CALL else Send
        return message(message_id, action, _payload(frame[3], violation))
    error_code_, description = frame[2], frame[3]
    if type(error_code_) is not str or type(description) is not str:
        raise violation(Fault.FRAME, "errorCode and errorDescription must be strings")
    error = CallError if type_id == MessageType.CALL_ERROR else CallResultError
    return error(message_id, error_code_, description, _payload(frame[4], violation))


def _payload(value: Any, violation: Callable[[Fault, str], ProtocolViolation]) -> dict[str, Any]:
    # OCPP-J 1.6 §4.2.1 and 2.x part 4 §4.1.5: "If there is no payload JSON allows for ... null or {}".
    if value is None:
        return {}
    if type(value) is not dict:
        raise violation(Fault.PAYLOAD, "payload must be a JSON object")
    return value


def _validate(version: str, action: str, kind: Kind, payload: Any, message_id: str, message_type: int) -> None:
    check = _schemas.validator(version, action, kind)
    if check is None:
        description = f"{action!r} is not a known {kind} message of {version}"
        raise ProtocolViolation(ErrorCode.NOT_IMPLEMENTED, message_id, description, message_type)
    try:
        check(payload)
    except JsonSchemaValueException as exc:
        fault, description = _schemas.classify(exc)
        raise ProtocolViolation(_CODES[version][fault], message_id, description, message_type) from exc


def _clip(text: str) -> str:
    if len(text) <= MAX_DESCRIPTION_LENGTH:
        return text
    return text[: MAX_DESCRIPTION_LENGTH - 3] + "..."

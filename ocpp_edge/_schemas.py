"""The OCPP JSON schemas shipped inside the ``ocpp`` package: which actions exist, who sends them, validators.

Private to :mod:`ocpp_edge.protocol`. Schemas are compiled with fastjsonschema lazily, once per
(version, action, kind), and cached for the life of the process; :func:`warm_up` compiles them all.
"""

from __future__ import annotations

import codecs
import functools
from collections.abc import Callable, Iterable
from enum import Enum
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any, Final, Literal

import fastjsonschema
import orjson
from fastjsonschema import JsonSchemaValueException

Kind = Literal["request", "response", "send"]
Validator = Callable[[Any], Any]

VERSIONS: Final = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")
_SCHEMA_DIRS: Final = {"ocpp1.6": "v16", "ocpp2.0.1": "v201", "ocpp2.1": "v21"}

# Direction is not in the schema files, so it is taken from the specifications: OCPP 1.6 edition 2 §4 (plus
# the 1.6 security whitepaper edition 3), OCPP 2.0.1 and 2.1 part 2 "Messages". Every action not listed
# here is sent by the CSMS; DataTransfer goes both ways (1.6 §4.3/§5.6, 2.x P01/P02).
BIDIRECTIONAL: Final = frozenset({"DataTransfer"})
# fmt: off
_CHARGER_16: Final = frozenset({
    "Authorize", "BootNotification", "DataTransfer", "DiagnosticsStatusNotification",
    "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StartTransaction", "StatusNotification",
    "StopTransaction",
    # security whitepaper edition 3
    "LogStatusNotification", "SecurityEventNotification", "SignCertificate", "SignedFirmwareStatusNotification",
})
_CHARGER_201: Final = frozenset({
    "Authorize", "BootNotification", "ClearedChargingLimit", "DataTransfer", "FirmwareStatusNotification",
    "Get15118EVCertificate", "GetCertificateStatus", "Heartbeat", "LogStatusNotification", "MeterValues",
    "NotifyChargingLimit", "NotifyCustomerInformation", "NotifyDisplayMessages", "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule", "NotifyEvent", "NotifyMonitoringReport", "NotifyReport",
    "PublishFirmwareStatusNotification", "ReportChargingProfiles", "ReservationStatusUpdate",
    "SecurityEventNotification", "SignCertificate", "StatusNotification", "TransactionEvent",
})
_CHARGER_21_NEW: Final = frozenset({
    "BatterySwap", "ClosePeriodicEventStream", "GetCertificateChainStatus", "NotifyDERAlarm",
    "NotifyDERStartStop", "NotifyPeriodicEventStream", "NotifyPriorityCharging", "NotifySettlement",
    "OpenPeriodicEventStream", "PullDynamicScheduleUpdate", "ReportDERControl", "VatNumberValidation",
})
CHARGER_SENT: Final = {
    "ocpp1.6": _CHARGER_16,
    "ocpp2.0.1": _CHARGER_201,
    "ocpp2.1": _CHARGER_201 | _CHARGER_21_NEW,
}
# fmt: on


class Fault(Enum):
    """What is wrong with a frame or payload; ``error_code`` names it in a version's vocabulary."""

    SYNTAX = "syntax"
    FRAME = "frame"
    PAYLOAD = "payload"
    MESSAGE_TYPE = "message type"
    TYPE = "type"
    OCCURRENCE = "occurrence"
    PROPERTY = "property"
    STRUCTURE = "structure"


# fmt: off
_RULE_FAULTS: Final = {
    "type": Fault.TYPE,
    "additionalProperties": Fault.STRUCTURE,
    **dict.fromkeys(["required", "minItems", "maxItems", "minProperties", "maxProperties"], Fault.OCCURRENCE),
    **dict.fromkeys([
        "enum", "const", "minLength", "maxLength", "pattern", "format", "minimum", "maximum", "exclusiveMinimum",
        "exclusiveMaximum", "multipleOf", "uniqueItems",
    ], Fault.PROPERTY),
}
# fmt: on
_PROPERTY_MAPS: Final = frozenset({"properties", "patternProperties"})
_SUBSCHEMAS: Final = frozenset({"items", "additionalProperties", "additionalItems", "not"})
_SUBSCHEMA_LISTS: Final = frozenset({"allOf", "anyOf", "oneOf"})
# annotations, and keys made moot by inlining every reference
_DROPPED: Final = frozenset(
    {"$schema", "$id", "id", "definitions", "description", "javaType", "comment", "title", "default"}
)
_compiled: dict[tuple[str, str, Kind], Validator] = {}


def _schema_dir(version: str) -> Traversable:
    try:
        return files("ocpp").joinpath(_SCHEMA_DIRS[version], "schemas")
    except KeyError:
        raise ValueError(f"unsupported OCPP version {version!r}; expected one of {VERSIONS}") from None


def _classify(version: str, stem: str) -> tuple[str, Kind]:
    """Map a schema file name to (action, kind): 1.6 has X/XResponse, 2.x has XRequest/XResponse/X (SEND)."""
    if stem.endswith("Response"):
        return stem.removesuffix("Response"), "response"
    if version == "ocpp1.6":
        return stem, "request"
    if stem.endswith("Request"):
        return stem.removesuffix("Request"), "request"
    return stem, "send"


@functools.cache
def schema_files(version: str) -> dict[tuple[str, Kind], Traversable]:
    """Every schema file of `version`, keyed by (action, kind)."""
    found = {}
    for entry in _schema_dir(version).iterdir():
        if entry.name.endswith(".json"):
            found[_classify(version, entry.name.removesuffix(".json"))] = entry
    return found


def actions(version: str, kinds: Iterable[Kind] = ("request", "send")) -> frozenset[str]:
    """Names of the actions of `version` that have a schema of one of `kinds`."""
    wanted = set(kinds)
    return frozenset(action for action, kind in schema_files(version) if kind in wanted)


def validator(version: str, action: str, kind: Kind) -> Validator | None:
    """The compiled validator for one message, or None when the version has no such message."""
    key = (version, action, kind)
    compiled = _compiled.get(key)
    if compiled is None:
        resource = schema_files(version).get((action, kind))
        if resource is None:
            return None
        compiled = _compiled[key] = compile_schema(resource.read_bytes())
    return compiled


def warm_up(versions: Iterable[str] = VERSIONS) -> int:
    """Compile every schema of `versions` now rather than on first use; return how many are compiled."""
    chosen = frozenset(versions)
    for version in chosen:
        for action, kind in schema_files(version):
            validator(version, action, kind)
    return sum(1 for key in _compiled if key[0] in chosen)


def compile_schema(raw: bytes) -> Validator:
    """Compile one schema file's bytes with fastjsonschema, after `_prepare` has made it fast to run.

    `use_default=False`: validation must not insert the schemas' `default` values into the payload.
    """
    schema = orjson.loads(raw.removeprefix(codecs.BOM_UTF8))
    formats: dict[str, Callable[[str], bool]] = {}
    prepared = _prepare(schema, schema.get("definitions", {}), formats)
    prepared["$schema"] = schema.get("$schema", "http://json-schema.org/draft-04/schema#")
    return fastjsonschema.compile(prepared, formats=formats, use_default=False, detailed_exceptions=True)


def _prepare(
    node: dict[str, Any], definitions: dict[str, Any], formats: dict[str, Any], seen: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A copy of a schema node that accepts the same JSON values but runs faster under fastjsonschema 2.22.

    - `$ref` "#/definitions/X" is inlined: a referenced definition is otherwise a function call that builds
      its error-path name string on every call. Other references are refused, never fetched, so `$id`
      ("urn:OCPP:...") and draft-04 `id` no longer matter and are dropped along with the annotations.
    - A string `enum` becomes a custom format backed by a frozenset (fastjsonschema tests an enum with a
      chain of `==`, 22 for a 1.6 measurand); the values stay under "x-enum" for error descriptions.
    - `additionalProperties` on a non-object type is a no-op that costs an isinstance check: dropped.
    """
    ref = node.get("$ref")
    if ref is not None:
        name = ref.removeprefix("#/definitions/")
        if name == ref or name in seen or name not in definitions:
            raise ValueError(f"unsupported or recursive schema reference {ref!r}")
        return _prepare(definitions[name], definitions, formats, (*seen, name))
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _PROPERTY_MAPS:
            out[key] = {prop: _prepare(sub, definitions, formats, seen) for prop, sub in value.items()}
        elif key in _SUBSCHEMAS and isinstance(value, dict):
            out[key] = _prepare(value, definitions, formats, seen)
        elif key in _SUBSCHEMA_LISTS:
            out[key] = [_prepare(sub, definitions, formats, seen) for sub in value]
        elif key not in _DROPPED:
            out[key] = value
    if isinstance(out.get("type"), str) and out["type"] != "object":
        out.pop("additionalProperties", None)
    enum = out.get("enum")
    if out.get("type") == "string" and "format" not in out and enum and all(type(e) is str for e in enum):
        name = f"enum{len(formats)}"
        formats[name] = frozenset(enum).__contains__
        out["format"], out["x-enum"] = name, out.pop("enum")
    return out


def classify(exc: JsonSchemaValueException) -> tuple[Fault, str]:
    """The fault behind a schema failure and a description of it."""
    return _RULE_FAULTS.get(exc.rule or "", Fault.PAYLOAD), _describe(exc)


def _describe(exc: JsonSchemaValueException) -> str:
    """Which property broke which rule, e.g. "payload.meterValue[0]: required property timestamp missing"."""
    name = exc.name or "data"
    where = "payload" + name.removeprefix("data")
    value = exc.value if isinstance(exc.value, dict) else {}
    if exc.rule == "required":
        missing = [prop for prop in exc.rule_definition or () if prop not in value]
        return f"{where}: required property {', '.join(missing)} missing"
    if exc.rule == "additionalProperties":
        known = (exc.definition or {}).get("properties", {})
        extra = [repr(prop) for prop in value if prop not in known]
        return f"{where}: property {', '.join(extra)} not defined for this message"
    allowed = (exc.definition or {}).get("x-enum") or (exc.definition or {}).get("enum")
    if exc.rule in ("enum", "format") and allowed:
        return f"{where} must be one of {', '.join(map(str, allowed))}"
    return where + exc.message.removeprefix(name)

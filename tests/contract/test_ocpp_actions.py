"""Contract of the OCPP-J layer with the official JSON schemas shipped in the ``ocpp`` package, for every action.

For each schema of each version: a minimal valid payload (generated from the schema) passes, also after a trip
over the wire, and one with a required field missing, a field of the wrong type or a field the PDU does not
define fails with the code the version prescribes (OCPP-J 1.6 §4.2.3 table 7; 2.0.1 and 2.1 part 4 §4.3).
Also: every action has a direction, and the schemas rewritten for speed judge payloads like the originals.
"""

import importlib
from importlib.resources import files
from typing import Any

import fastjsonschema
import orjson
import pytest
from fastjsonschema import JsonSchemaValueException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocpp_edge import _schemas, protocol
from ocpp_edge.protocol import ProtocolViolation

DIRS = {"ocpp1.6": "v16", "ocpp2.0.1": "v201", "ocpp2.1": "v21"}
MINIMAL_STRINGS = {"date-time": "2026-01-01T00:00:00Z", "uri": "https://example.com/firmware.bin"}
WRONG_TYPE = {"string": 12, "integer": "12", "number": "1.5", "boolean": "true", "object": "{}", "array": "[]"}


def kind_of(version: str, stem: str) -> tuple[str, str]:
    if stem.endswith("Response"):
        return stem.removesuffix("Response"), "response"
    if version != "ocpp1.6" and not stem.endswith("Request"):
        return stem, "send"
    return stem.removesuffix("Request"), "request"


def load_schemas() -> dict[tuple[str, str, str], dict[str, Any]]:
    """Read the schema files straight from the ocpp package, independently of the code under test."""
    found = {}
    for version, folder in DIRS.items():
        for entry in files("ocpp").joinpath(folder, "schemas").iterdir():
            if entry.name.endswith(".json"):
                action, kind = kind_of(version, entry.name.removesuffix(".json"))
                found[version, action, kind] = orjson.loads(entry.read_bytes())
    return found


SCHEMAS = load_schemas()
CASES = sorted(SCHEMAS)
IDS = ["-".join(case) for case in CASES]
WITH_REQUIRED = [case for case in CASES if SCHEMAS[case].get("required")]


def resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = root["definitions"][node["$ref"].removeprefix("#/definitions/")]
    return node


def minimal(node: dict[str, Any], root: dict[str, Any]) -> Any:
    """The smallest value that `node` accepts: required fields only, first enum value, minimum numbers."""
    node = resolve(node, root)
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "object":
        return {name: minimal(node["properties"][name], root) for name in node.get("required", [])}
    if kind == "array":
        return [minimal(node["items"], root) for _ in range(node.get("minItems", 0))]
    if kind == "string":
        return MINIMAL_STRINGS.get(node.get("format", ""), "x" * max(1, node.get("minLength", 1)))
    if kind in ("integer", "number"):
        return node.get("minimum", 0)
    if kind == "boolean":
        return False
    raise AssertionError(f"no minimal value for {node}")


def validate(version: str, action: str, kind: str, payload: Any) -> None:
    check = {"request": protocol.validate_call, "response": protocol.validate_result, "send": protocol.validate_send}
    check[kind](version, action, payload, message_id="contract-1")


def violation(version: str, action: str, kind: str, payload: Any) -> ProtocolViolation:
    with pytest.raises(ProtocolViolation) as caught:
        validate(version, action, kind, payload)
    assert caught.value.message_id == "contract-1"
    assert 0 < len(caught.value.description) <= protocol.MAX_DESCRIPTION_LENGTH
    return caught.value


def test_every_schema_of_every_version_compiles():
    assert protocol.warm_up() == len(SCHEMAS) > 380


@pytest.mark.parametrize(("version", "action", "kind"), WITH_REQUIRED, ids=["-".join(case) for case in WITH_REQUIRED])
def test_missing_required_field_is_an_occurrence_violation(version, action, kind):
    schema = SCHEMAS[version, action, kind]
    payload = minimal(schema, schema)
    del payload[schema["required"][0]]
    code = violation(version, action, kind, payload).code
    assert code == protocol.error_code(version, protocol.Fault.OCCURRENCE)
    assert code == ("OccurenceConstraintViolation" if version == "ocpp1.6" else "OccurrenceConstraintViolation")


@pytest.mark.parametrize(("version", "action", "kind"), CASES, ids=IDS)
def test_wrong_type_is_a_type_constraint_violation(version, action, kind):
    schema = SCHEMAS[version, action, kind]
    payload = minimal(schema, schema)
    properties = schema.get("properties", {})
    if properties:
        name = (schema.get("required") or list(properties))[0]
        payload[name] = WRONG_TYPE[resolve(properties[name], schema)["type"]]
    else:
        payload = []  # the payload itself must be an object
    assert violation(version, action, kind, payload).code == "TypeConstraintViolation"


@pytest.mark.parametrize(("version", "action", "kind"), CASES, ids=IDS)
def test_field_not_in_the_pdu_is_rejected(version, action, kind):
    schema = SCHEMAS[version, action, kind]
    payload = {**minimal(schema, schema), "notInThePdu": 1}
    code = violation(version, action, kind, payload).code
    assert code == ("FormationViolation" if version == "ocpp1.6" else "ProtocolError")


@pytest.mark.parametrize(("version", "action", "kind"), CASES, ids=IDS)
def test_minimal_payload_passes_after_a_trip_over_the_wire(version, action, kind):
    schema = SCHEMAS[version, action, kind]
    payload = minimal(schema, schema)
    validate(version, action, kind, payload)
    if kind == "response":
        frame = protocol.parse_frame(protocol.call_result("rt-1", payload), version)
        assert isinstance(frame, protocol.CallResult)
    elif kind == "send":  # 2.1 SEND: only chargers send them, so the CSMS has no serialiser for it
        frame = protocol.parse_frame(orjson.dumps([6, "rt-1", action, payload]), version)
        assert isinstance(frame, protocol.Send)
    else:
        frame = protocol.parse_frame(protocol.call("rt-1", action, payload), version)
        assert isinstance(frame, protocol.Call)
    assert frame.payload == payload
    validate(version, action, kind, frame.payload)


# -- who sends what -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", list(DIRS))
def test_every_action_has_a_direction(version):
    everything = {action for (v, action, kind) in SCHEMAS if v == version and kind != "response"}
    charger, csms = protocol.CHARGER_INITIATED[version], protocol.CSMS_INITIATED[version]
    assert charger | csms == everything
    assert charger & csms == {"DataTransfer"}


@pytest.mark.parametrize(("version", "module"), [("ocpp1.6", "v16"), ("ocpp2.0.1", "v201"), ("ocpp2.1", "v21")])
def test_directions_cover_the_ocpp_package_actions(version, module):
    listed = {action.value for action in importlib.import_module(f"ocpp.{module}.enums").Action}
    both = protocol.CHARGER_INITIATED[version] | protocol.CSMS_INITIATED[version]
    # ocpp 2.1.0 forgets the 2.1 SEND message NotifyPeriodicEventStream in its Action enum
    assert both - listed <= {"NotifyPeriodicEventStream"}
    assert listed <= both


@pytest.mark.parametrize(
    ("version", "charger", "csms"),
    [
        ("ocpp1.6", {"BootNotification", "StartTransaction", "SignCertificate"}, {"RemoteStartTransaction", "GetLog"}),
        ("ocpp2.0.1", {"TransactionEvent", "NotifyReport", "Get15118EVCertificate"}, {"RequestStartTransaction"}),
        ("ocpp2.1", {"NotifyPeriodicEventStream", "BatterySwap"}, {"AFRRSignal", "UsePriorityCharging"}),
    ],
)
def test_known_directions(version, charger, csms):
    assert charger <= protocol.CHARGER_INITIATED[version] - protocol.CSMS_INITIATED[version]
    assert csms <= protocol.CSMS_INITIATED[version] - protocol.CHARGER_INITIATED[version]


# -- the schemas are rewritten for speed (ocpp_edge._schemas._prepare): they must still mean the same ----------

DIFFERENTIAL = [
    ("ocpp1.6", "MeterValues", "request"),
    ("ocpp1.6", "SetChargingProfile", "request"),
    ("ocpp1.6", "StopTransaction", "request"),
    ("ocpp2.0.1", "TransactionEvent", "request"),
    ("ocpp2.0.1", "BootNotification", "request"),
    ("ocpp2.1", "NotifyEVChargingNeeds", "request"),
    ("ocpp2.1", "NotifyPeriodicEventStream", "send"),
    ("ocpp2.1", "GetCompositeSchedule", "response"),
]
JUNK: st.SearchStrategy[Any] = st.sampled_from([None, True, -1, 2.5, "", "zz", "2026-01-01T00:00", [], {}, {"zz": 1}])


def rarely(usual: st.SearchStrategy[Any], unusual: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.integers(0, 24).flatmap(lambda n: unusual if n == 0 else usual)


def payloads(node: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Schema-shaped values with, at every level, now and then junk or an extra property."""
    node = resolve(node, root)
    kind = node.get("type")
    if "enum" in node:
        valid: st.SearchStrategy[Any] = st.sampled_from(node["enum"])
    elif kind == "object":
        properties = {name: payloads(sub, root) for name, sub in node.get("properties", {}).items()}
        required = set(node.get("required", []))
        valid = st.fixed_dictionaries(
            {name: sub for name, sub in properties.items() if name in required},
            optional={name: sub for name, sub in properties.items() if name not in required},
        )
        valid = rarely(valid, valid.map(lambda found: {**found, "zz": 1}))
    elif kind == "array":
        valid = st.lists(payloads(node["items"], root), min_size=max(0, node.get("minItems", 0) - 1), max_size=3)
    elif kind == "string":
        length = node.get("maxLength", 10)
        valid = st.sampled_from(list(MINIMAL_STRINGS.values())) | st.text(max_size=length + 1)
    elif kind == "integer":
        valid = st.integers(node.get("minimum", -5) - 1, node.get("maximum", 5) + 1)
    elif kind == "number":
        valid = st.sampled_from([0, 1.5, 21.4, 21.45, -3]) | st.floats(allow_nan=False, allow_infinity=False)
    else:
        valid = st.booleans()
    return rarely(valid, JUNK)


def outcome(check: Any, payload: Any) -> tuple[Any, ...] | None:
    """None when valid, else (fault, path) of the first failure."""
    try:
        check(payload)
    except JsonSchemaValueException as exc:
        return _schemas.classify(exc)[0], exc.name
    return None


@pytest.mark.parametrize(("version", "action", "kind"), DIFFERENTIAL, ids=["-".join(case) for case in DIFFERENTIAL])
def test_prepared_schema_judges_like_the_original(version, action, kind):
    schema = SCHEMAS[version, action, kind]
    original = fastjsonschema.compile({k: v for k, v in schema.items() if k != "$id"}, use_default=False)
    prepared = _schemas.validator(version, action, kind)

    @settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(payload=payloads(schema, schema))
    def agree(payload: Any) -> None:
        assert outcome(prepared, payload) == outcome(original, payload)

    agree()


def enum_nodes(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return [found for item in node for found in enum_nodes(item)]
    if not isinstance(node, dict):
        return []
    return ([node] if "enum" in node or "x-enum" in node else []) + enum_nodes(list(node.values()))


@pytest.mark.parametrize("version", list(DIRS))
def test_every_enum_survives_preparation(version):
    for (v, action, kind), schema in SCHEMAS.items():
        if v != version:
            continue
        formats: dict[str, Any] = {}
        prepared = _schemas._prepare(schema, schema.get("definitions", {}), formats)
        kept = enum_nodes(prepared)
        assert {frozenset(node["enum"]) for node in enum_nodes(schema)} == {
            frozenset(node["x-enum"]) for node in kept
        }, (action, kind)
        for node in kept:
            allowed = formats[node["format"]]
            assert all(allowed(value) for value in node["x-enum"])
            assert not any(allowed(value + " ") or allowed(value.lower() + "x") for value in node["x-enum"])

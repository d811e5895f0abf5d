"""Unit tests of the OCPP-J RPC layer: framing, error codes per version, serialisation, fuzzing.

Spec references: OCPP-J 1.6 §4.1.3-§4.2.3 (+ errata sheet §5.1/§5.2: the 1.6 code names are kept as typed),
OCPP 2.0.1 part 4 §4.1.3-§4.4, OCPP 2.1 part 4 §4.1.3-§4.4 (CALLRESULTERROR = 5, SEND = 6).
"""

from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocpp_edge import protocol
from ocpp_edge.protocol import (
    Call,
    CallError,
    CallResult,
    CallResultError,
    ErrorCode,
    Fault,
    ProtocolViolation,
    Send,
)

V16, V201, V21 = "ocpp1.6", "ocpp2.0.1", "ocpp2.1"
ALL = [V16, V201, V21]
FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# the codes a malformed frame gets, per version: (not JSON, not an RPC frame, payload not an object)
FRAMING = {
    V16: (ErrorCode.FORMATION_VIOLATION, ErrorCode.FORMATION_VIOLATION, ErrorCode.FORMATION_VIOLATION),
    V201: (ErrorCode.FORMAT_VIOLATION, ErrorCode.RPC_FRAMEWORK_ERROR, ErrorCode.FORMAT_VIOLATION),
    V21: (ErrorCode.FORMAT_VIOLATION, ErrorCode.RPC_FRAMEWORK_ERROR, ErrorCode.FORMAT_VIOLATION),
}


def violation_of(raw: str | bytes, version: str) -> ProtocolViolation:
    with pytest.raises(ProtocolViolation) as caught:
        protocol.parse_frame(raw, version)
    return caught.value


# -- parse_frame: valid frames --------------------------------------------------------------------------


@pytest.mark.parametrize("version", ALL)
def test_parses_the_three_basic_frames(version):
    assert protocol.parse_frame(b'[2,"a1","Heartbeat",{}]', version) == Call("a1", "Heartbeat", {})
    assert protocol.parse_frame('[3,"a1",{"currentTime":"x"}]', version) == CallResult("a1", {"currentTime": "x"})
    assert protocol.parse_frame(b'[4,"a1","NotSupported","no",{}]', version) == CallError(
        "a1", "NotSupported", "no", {}
    )


@pytest.mark.parametrize("version", ALL)
def test_null_payload_is_the_empty_object(version):
    # 1.6 §4.2.1, 2.x part 4 §4.1.5: "If there is no payload JSON allows for ... null or and empty object {}"
    assert protocol.parse_frame(b'[2,"1","Heartbeat",null]', version) == Call("1", "Heartbeat", {})
    assert protocol.parse_frame(b'[3,"1",null]', version) == CallResult("1", {})


def test_callresulterror_and_send_exist_in_21_only():
    assert protocol.parse_frame(b'[5,"r1","FormatViolation","bad",{}]', V21) == CallResultError(
        "r1", "FormatViolation", "bad", {}
    )
    send = protocol.parse_frame(b'[6,"s1","NotifyPeriodicEventStream",{"id":1}]', V21)
    assert send == Send("s1", "NotifyPeriodicEventStream", {"id": 1})
    for version in (V16, V201):
        assert violation_of(b'[6,"s1","NotifyPeriodicEventStream",{}]', version).message_type == 6


@pytest.mark.parametrize("length", [1, 36])
def test_message_ids_of_1_to_36_characters_are_accepted(length):
    assert protocol.parse_frame(f'[2,"{"x" * length}","Heartbeat",{{}}]', V201).message_id == "x" * length


# -- parse_frame: malformed frames ------------------------------------------------------------------------


@pytest.mark.parametrize("version", ALL)
@pytest.mark.parametrize("raw", [b"", b"not json", b'[2,"1","Heartbeat",{}', b"\xff\xfe[]", b"[2,'1']", b"NaN"])
def test_invalid_json_is_a_syntax_fault_with_id_minus_one(version, raw):
    violation = violation_of(raw, version)
    assert (violation.code, violation.message_id) == (FRAMING[version][0], "-1")


@pytest.mark.parametrize("version", ALL)
@pytest.mark.parametrize("raw", [b"{}", b'"CALL"', b"2", b"null", b"[]"])
def test_a_frame_must_be_a_non_empty_array(version, raw):
    violation = violation_of(raw, version)
    assert (violation.code, violation.message_id) == (FRAMING[version][1], "-1")


@pytest.mark.parametrize("version", ALL)
@pytest.mark.parametrize("message_id", ['""', '"' + "x" * 37 + '"', "17", "null", '["a"]'])
def test_unreadable_message_id_is_answered_with_minus_one(version, message_id):
    # 2.x part 4 §4.1.4 messageId string[36]; §4.2.3 "When also the MessageId cannot be read, ... "-1""
    violation = violation_of(f'[2,{message_id},"Heartbeat",{{}}]', version)
    assert (violation.code, violation.message_id) == (FRAMING[version][1], "-1")
    assert protocol.error_reply(violation, version) == protocol.call_error("-1", violation.code, violation.description)


@pytest.mark.parametrize("type_id", ['"2"', "2.0", "true", "null"])
def test_message_type_must_be_an_integer(type_id):
    violation = violation_of(f'[{type_id},"m1","Heartbeat",{{}}]', V201)
    assert (violation.code, violation.message_id) == (ErrorCode.RPC_FRAMEWORK_ERROR, "m1")


@pytest.mark.parametrize(("version", "type_id"), [(V201, 7), (V201, 5), (V201, 6), (V21, 7), (V21, 1), (V21, -1)])
def test_unknown_message_type_in_2x_is_message_type_not_supported(version, type_id):
    # 2.0.1 part 4 §4.4: "it SHALL respond with an CALLERROR with errorCode: MessageTypeNotSupported"
    violation = violation_of(f'[{type_id},"m1","Heartbeat",{{}}]', version)
    assert (violation.code, violation.message_id, violation.message_type) == (
        ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED,
        "m1",
        type_id,
    )
    assert protocol.error_reply(violation, version) is not None


@pytest.mark.parametrize("type_id", [5, 6, 7, 0])
def test_unknown_message_type_in_16_is_formation_violation(type_id):
    # 1.6 §4.1.3 only says "SHALL ignore the message payload" and has no MessageTypeNotSupported code
    violation = violation_of(f'[{type_id},"m1","Heartbeat",{{}}]', V16)
    assert (violation.code, violation.message_id) == (ErrorCode.FORMATION_VIOLATION, "m1")
    reply = protocol.error_reply(violation, V16)
    assert reply is not None
    assert orjson.loads(reply)[:3] == [4, "m1", "FormationViolation"]


@pytest.mark.parametrize("version", ALL)
@pytest.mark.parametrize(
    "raw",
    [
        '[2,"m1","Heartbeat"]',
        '[2,"m1","Heartbeat",{},{}]',
        '[3,"m1"]',
        '[3,"m1",{},{}]',
        '[4,"m1","GenericError","x"]',
        '[2,"m1",17,{}]',
        '[2,"m1","",{}]',
        '[4,"m1",17,"x",{}]',
        '[4,"m1","GenericError",null,{}]',
    ],
)
def test_wrong_element_count_or_type_is_a_frame_fault_keeping_the_id(version, raw):
    violation = violation_of(raw, version)
    assert (violation.code, violation.message_id) == (FRAMING[version][1], "m1")


@pytest.mark.parametrize("version", ALL)
@pytest.mark.parametrize("raw", ['[2,"m1","Heartbeat",[]]', '[2,"m1","Heartbeat","{}"]', '[3,"m1",1]'])
def test_payload_that_is_not_an_object_is_a_payload_fault(version, raw):
    violation = violation_of(raw, version)
    assert (violation.code, violation.message_id) == (FRAMING[version][2], "m1")


def test_16_and_2x_name_the_same_faults_differently():
    assert protocol.error_code(V16, Fault.SYNTAX) == "FormationViolation"
    assert protocol.error_code(V201, Fault.SYNTAX) == "FormatViolation"
    assert protocol.error_code(V16, Fault.OCCURRENCE) == "OccurenceConstraintViolation"  # sic, errata §5.1
    assert protocol.error_code(V21, Fault.OCCURRENCE) == "OccurrenceConstraintViolation"
    assert protocol.error_code(V16, Fault.STRUCTURE) == "FormationViolation"
    assert protocol.error_code(V201, Fault.STRUCTURE) == "ProtocolError"


def test_unknown_version_is_a_programming_error():
    with pytest.raises(ValueError, match="unsupported OCPP version"):
        protocol.parse_frame(b'[2,"1","Heartbeat",{}]', "ocpp2.0")
    with pytest.raises(ValueError, match="unsupported OCPP version"):
        protocol.validate_call("ocpp1.5", "Heartbeat", {})


# -- error_reply ---------------------------------------------------------------------------------------------


def test_no_reply_to_send_errors_or_bad_results_before_21():
    # 2.1 part 4 §4.2.4: "The receiver SHALL NOT respond to a SEND message with a CALLRESULT or CALLERROR"
    assert protocol.error_reply(violation_of(b'[6,"s1","NotifyPeriodicEventStream",[]]', V21), V21) is None
    assert protocol.error_reply(violation_of(b'[4,"e1","GenericError",3,{}]', V201), V201) is None
    assert protocol.error_reply(violation_of(b'[5,"e1","GenericError",3,{}]', V21), V21) is None
    assert protocol.error_reply(violation_of(b'[3,"r1",[]]', V201), V201) is None


def test_a_bad_callresult_gets_a_callresulterror_in_21():
    reply = protocol.error_reply(violation_of(b'[3,"r1",[]]', V21), V21)
    assert reply is not None
    assert orjson.loads(reply) == [5, "r1", "FormatViolation", "payload must be a JSON object", {}]


def test_a_failed_validation_is_answered_with_the_calls_id():
    with pytest.raises(ProtocolViolation) as caught:
        protocol.validate_call(V16, "Heartbeat", {"x": 1}, message_id="hb-7")
    assert orjson.loads(protocol.error_reply(caught.value, V16) or b"")[:3] == [4, "hb-7", "FormationViolation"]


# -- validation: codes and descriptions -----------------------------------------------------------------------

METER_VALUE_16 = {"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "10", "unit": "Wh"}]}


@pytest.mark.parametrize(
    ("payload", "code", "description"),
    [
        ({"connectorId": 1}, "OccurenceConstraintViolation", "payload: required property meterValue missing"),
        ({"connectorId": 1, "meterValue": []}, "OccurenceConstraintViolation", "payload.meterValue must contain"),
        ({"connectorId": "1", "meterValue": [METER_VALUE_16]}, "TypeConstraintViolation", "payload.connectorId"),
        ({"connectorId": True, "meterValue": [METER_VALUE_16]}, "TypeConstraintViolation", "payload.connectorId must"),
        ({"connectorId": 1, "meterValue": [METER_VALUE_16], "x": 1}, "FormationViolation", "property 'x'"),
        (
            {"connectorId": 1, "meterValue": [{**METER_VALUE_16, "sampledValue": [{"value": "1", "unit": "kW "}]}]},
            "PropertyConstraintViolation",
            "payload.meterValue[0].sampledValue[0].unit must be one of Wh, kWh",
        ),
        (
            {"connectorId": 1, "meterValue": [{**METER_VALUE_16, "timestamp": "2026-01-01T00:00:00"}]},
            "PropertyConstraintViolation",
            "payload.meterValue[0].timestamp must be date-time",
        ),
    ],
)
def test_16_meter_values_failures(payload, code, description):
    with pytest.raises(ProtocolViolation) as caught:
        protocol.validate_call(V16, "MeterValues", payload)
    assert caught.value.code == code
    assert description in caught.value.description
    assert len(caught.value.description) <= protocol.MAX_DESCRIPTION_LENGTH


def test_2x_failures_use_2x_names():
    station = {"model": "M", "vendorName": "V"}
    cases = [
        ({"reason": "PowerUp"}, "OccurrenceConstraintViolation"),
        ({"reason": "PowerUp", "chargingStation": {**station, "model": "m" * 21}}, "PropertyConstraintViolation"),
        ({"reason": "Power", "chargingStation": station}, "PropertyConstraintViolation"),
        ({"reason": "PowerUp", "chargingStation": station, "extra": 1}, "ProtocolError"),
        ({"reason": "PowerUp", "chargingStation": {**station, "model": 5}}, "TypeConstraintViolation"),
    ]
    for payload, code in cases:
        with pytest.raises(ProtocolViolation) as caught:
            protocol.validate_call(V201, "BootNotification", payload)
        assert caught.value.code == code, payload


def test_16_charging_limits_have_one_decimal():
    # 1.6 ChargingSchedulePeriod.limit "decimal with one digit fraction" (schema: multipleOf 0.1)
    period = {"startPeriod": 0, "limit": 21.4}
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [period]},
    }
    protocol.validate_call(V16, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile})
    period["limit"] = 21.45
    with pytest.raises(ProtocolViolation) as caught:
        protocol.validate_call(V16, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile})
    assert caught.value.code == "PropertyConstraintViolation"


@pytest.mark.parametrize(
    "timestamp",
    ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00.123Z", "2026-06-30T23:59:59+02:00", "2028-02-29t10:00:00z"],
)
def test_rfc3339_timestamps_pass(timestamp):
    protocol.validate_result(V201, "Heartbeat", {"currentTime": timestamp})


@pytest.mark.parametrize(
    "timestamp", ["2026-01-01T00:00:00", "2026-01-01 00:00:00Z", "2026-02-30T00:00:00Z", "1767225600", ""]
)
def test_other_timestamps_are_property_violations(timestamp):
    # 2.0.1 part 2 §2.1.4 "All time values ... SHALL be formatted as defined in [RFC3339]"
    with pytest.raises(ProtocolViolation) as caught:
        protocol.validate_result(V201, "Heartbeat", {"currentTime": timestamp})
    assert caught.value.code == "PropertyConstraintViolation"


def test_unknown_action_is_not_implemented():
    # 1.6 table 7 / 2.x table 8: NotImplemented "Requested Action is not known by receiver"
    for version in ALL:
        with pytest.raises(ProtocolViolation) as caught:
            protocol.validate_call(version, "Teleport", {}, message_id="t1")
        assert (caught.value.code, caught.value.message_id) == ("NotImplemented", "t1")
    with pytest.raises(ProtocolViolation, match="NotImplemented"):
        protocol.validate_call(V21, "NotifyPeriodicEventStream", {"id": 1, "pending": 0, "data": []})


def test_validation_does_not_insert_schema_defaults():
    payload = {"evseId": 1, "meterValue": [{"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": 1}]}]}
    before = orjson.dumps(payload)
    protocol.validate_call(V201, "MeterValues", payload)
    assert orjson.dumps(payload) == before  # SampledValueType has defaults for context and location


def test_long_descriptions_are_cut_to_255_characters():
    violation = ProtocolViolation("GenericError", "1", "x" * 1000)
    assert len(violation.description) == 255
    assert violation.description.endswith("...")


# -- serialisation -----------------------------------------------------------------------------------------------


def test_serialisers_are_compact():
    assert protocol.call("c1", "Reset", {"type": "Hard"}) == b'[2,"c1","Reset",{"type":"Hard"}]'
    assert protocol.call_result("c1", {}) == b'[3,"c1",{}]'
    assert protocol.call_error("c1", ErrorCode.NOT_SUPPORTED, "no") == b'[4,"c1","NotSupported","no",{}]'
    assert protocol.call_result_error("c1", "FormatViolation", "", {"a": 1}) == b'[5,"c1","FormatViolation","",{"a":1}]'


def test_datetimes_go_out_as_utc_with_z():
    aware = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    naive = datetime(2026, 1, 1, 12, 0)
    assert protocol.call_result("c1", {"currentTime": aware}) == b'[3,"c1",{"currentTime":"2026-01-01T12:00:00Z"}]'
    assert protocol.call_result("c1", {"currentTime": naive}) == b'[3,"c1",{"currentTime":"2026-01-01T12:00:00Z"}]'


def test_call_error_description_is_cut():
    frame = orjson.loads(protocol.call_error("c1", "GenericError", "é" * 300))
    assert len(frame[3]) == 255


@pytest.mark.parametrize("version", ALL)
def test_serialised_frames_parse_back(version):
    assert protocol.parse_frame(protocol.call("c1", "Heartbeat", {}), version) == Call("c1", "Heartbeat", {})
    assert protocol.parse_frame(protocol.call_result("c1", {"a": [1]}), version) == CallResult("c1", {"a": [1]})
    error = protocol.call_error("c1", "InternalError", "boom", {"k": "v"})
    assert protocol.parse_frame(error, version) == CallError("c1", "InternalError", "boom", {"k": "v"})


# -- fuzzing: nothing but ProtocolViolation ever escapes, and every answer is a valid frame ---------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=10,
)
frame_like = st.tuples(
    st.sampled_from([2, 3, 4, 5, 6, 7, -1, "2"]),
    st.one_of(st.text(max_size=40), st.integers(-(2**63), 2**63 - 1)),
    st.one_of(st.sampled_from(["Heartbeat", "MeterValues", "BootNotification", "TransactionEvent"]), json_values),
    json_values,
    json_values,
).flatmap(lambda parts: st.integers(0, 5).map(lambda n: list(parts[:n])))


def handle(raw: bytes, version: str) -> ProtocolViolation | None:
    """What the edge does with an incoming message; any exception but ProtocolViolation fails the test."""
    try:
        frame = protocol.parse_frame(raw, version)
        if isinstance(frame, Call):
            protocol.validate_call(version, frame.action, frame.payload, message_id=frame.message_id)
    except ProtocolViolation as violation:
        return violation
    return None


def assert_handled(raw: bytes, version: str) -> None:
    violation = handle(raw, version)
    if violation is None:
        return
    assert len(violation.description) <= protocol.MAX_DESCRIPTION_LENGTH
    reply = protocol.error_reply(violation, version)
    if reply is not None:
        assert isinstance(protocol.parse_frame(reply, version), CallError | CallResultError)


@FUZZ
@given(raw=st.binary(max_size=200), version=st.sampled_from(ALL))
def test_fuzz_arbitrary_bytes(raw, version):
    assert_handled(raw, version)


@FUZZ
@given(value=json_values, version=st.sampled_from(ALL))
def test_fuzz_arbitrary_json(value, version):
    assert_handled(orjson.dumps(value), version)


@FUZZ
@given(frame=frame_like, version=st.sampled_from(ALL))
def test_fuzz_frame_shaped_json(frame, version):
    assert_handled(orjson.dumps(frame), version)

"""`skip_ocpp`: a header-only filter for ocpp.messages records."""

from __future__ import annotations

from processors.runtime import skip_ocpp


def test_types_and_actions() -> None:
    skip = skip_ocpp({"CALLRESULT"}, {"MeterValues", "StartTransaction"})
    assert skip([("ocpp_type", b"CALL"), ("ocpp_action", b"MeterValues")])
    assert skip([("ocpp_type", b"CALLRESULT"), ("ocpp_action", b"Heartbeat")])
    assert not skip([("ocpp_type", b"CALLRESULT"), ("ocpp_action", b"MeterValues")])
    assert not skip([("ocpp_type", b"CALLRESULT")])  # no action header: decoded, the handler decides


def test_records_without_the_headers_are_kept() -> None:
    assert not skip_ocpp({"CALLRESULT"})([("schema", b"csms.ocpp.OcppMessage"), ("event_id", b"x")])
    assert not skip_ocpp({"CALLRESULT"}, {"Heartbeat"})([])


def test_any_action_when_none_given() -> None:
    skip = skip_ocpp({"CALLRESULT", "CALLERROR"})
    assert not skip([("ocpp_type", b"CALLERROR"), ("ocpp_action", b"Anything")])
    assert skip([("ocpp_type", b"SEND"), ("ocpp_action", b"NotifyPeriodicEventStream")])

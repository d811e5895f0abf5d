"""The fast lane (_samplerows.SampleRows) stores exactly the rows of the generic path (domain/samples.readings +
_copy.encode), byte for byte, per partition day, with the same time range, count and session register spans."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.monitoring import _copy
from processors.monitoring._samplerows import SampleRows
from processors.monitoring._timeseries import register_spans
from processors.monitoring.domain.samples import Reading, readings

AT = datetime(2026, 3, 10, 23, 58, 30, tzinfo=UTC)  # near midnight: the trusted future crosses into the next day


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


TEXT = st.sampled_from(["Energy.Active.Import.Register", "Energy.Active.Export.Register", "Power.Active.Import",
                        "Current.Import", "Voltage", "SoC", "L1", "L2-N", "Outlet", "Sample.Periodic", "Wh", "kWh",
                        "", "é"])
ODD = st.one_of(st.integers(-3, 3), st.booleans(), st.floats(allow_nan=False, allow_infinity=False),
                st.lists(st.integers(0, 2), max_size=2), st.dictionaries(st.sampled_from(["a"]), st.integers(0, 1)))
DESCRIPTIVE = st.one_of(st.none(), TEXT, TEXT, ODD)
UNIT = st.one_of(st.none(), st.sampled_from(["Wh", "kWh", "W", "kW", "varh", "kvarh", "var", "kvar", "VA", "kVA", "A",
                                              "V", "Percent", "Celsius"]), ODD)
NUMBER_TEXT = st.one_of(
    st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["1.5", " 7200 ", "\t12\n", "+3", "-0", ".5", "5.", "1e3", "1E-2", "1e999", "abc", "nan", "inf",
                     "1_000", "\u0663", "1 2", "1.2.3", "", " ", "+", "e5", "1e", "--1", "0x10", "²", "1\x1c"]),
    st.text(alphabet="0123456789.+-eE \t\n\r\x0b\x0c_xn", max_size=6))
VALUE = st.one_of(NUMBER_TEXT, NUMBER_TEXT, st.integers(-10**9, 10**9),
                  st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none(), st.just([1]))
MULTIPLIER = st.one_of(st.none(), st.integers(-5, 5), st.sampled_from(["2", " -1", "x", "+3"]), st.booleans(),
                       st.just(2.0), st.just([1]))
UOM = st.one_of(st.none(), st.just("kWh"), st.fixed_dictionaries({}, optional={"unit": UNIT, "multiplier": MULTIPLIER}))


@st.composite
def sampled_value(draw: Any) -> Any:
    if draw(st.integers(0, 30)) == 0:
        return draw(st.one_of(st.none(), st.integers(), st.just("x")))  # not an object at all
    sv: dict[str, Any] = {}
    if draw(st.integers(0, 15)):
        sv["value"] = draw(VALUE)
    for field, strategy in (("measurand", DESCRIPTIVE), ("phase", DESCRIPTIVE), ("location", DESCRIPTIVE),
                            ("context", DESCRIPTIVE), ("unit", UNIT), ("unitOfMeasure", UOM), ("format", TEXT)):
        if draw(st.booleans()):
            sv[field] = draw(strategy)
    return sv


TIMESTAMP = st.one_of(
    st.sampled_from([-timedelta(days=8), -timedelta(days=3), -timedelta(minutes=1), timedelta(0),
                     timedelta(minutes=5), timedelta(minutes=11)]).map(lambda d: _iso(AT + d)),
    st.just("2026-03-11T01:00:30+02:00"), st.just("2026-03-10"), st.just("not a time"), st.integers(), st.none())


@st.composite
def meter_value(draw: Any) -> Any:
    if draw(st.integers(0, 20)) == 0:
        return draw(st.one_of(st.none(), st.just("x"), st.just({"timestamp": _iso(AT)})))
    entry: dict[str, Any] = {"sampledValue": draw(st.lists(sampled_value(), max_size=6))}
    if draw(st.integers(0, 8)):
        entry["timestamp"] = draw(TIMESTAMP)
    return entry


@st.composite
def message(draw: Any) -> tuple[str, bool, str, Any]:
    action = draw(st.sampled_from(["MeterValues", "StopTransaction", "TransactionEvent"]))
    v2 = draw(st.booleans())
    ids = st.one_of(st.integers(0, 3), st.sampled_from(["1", "T-1", " 2"]), st.none(), st.booleans())
    meter = draw(st.lists(meter_value(), max_size=3))
    request: dict[str, Any] = {}
    if action == "TransactionEvent":
        request = {"evse": draw(st.one_of(st.none(), st.fixed_dictionaries({"id": ids, "connectorId": ids}))),
                   "transactionInfo": {"transactionId": draw(ids)}, "meterValue": meter}
    elif action == "StopTransaction":
        request = {"transactionId": draw(ids), draw(st.sampled_from(["transactionData", "meterValue"])): meter}
    else:
        request = {"connectorId": draw(ids), "evseId": draw(ids), "transactionId": draw(ids), "meterValue": meter}
    if draw(st.integers(0, 30)) == 0:
        request = draw(st.one_of(st.none(), st.just([]), st.just({"meterValue": "x"})))
    return draw(st.sampled_from(["CP-1", "CP-2", "Bø-3"])), v2, action, request


def _reference(messages: list[tuple[str, bool, str, Any]], received: datetime) -> tuple[list[Reading],
                                                                                      dict[date, bytes]]:
    rows = [r for station, v2, action, request in messages for r in readings(station, received, v2, action, request)]
    by_day: dict[date, list[Reading]] = {}
    for row in rows:
        by_day.setdefault(row[0].date(), []).append(row)
    return rows, {day: _copy.encode(day_rows) for day, day_rows in by_day.items()}


@settings(max_examples=250, deadline=None)
@given(st.lists(message(), max_size=8))
def test_fast_rows_are_the_generic_rows_byte_for_byte(messages: list[tuple[str, bool, str, Any]]) -> None:
    fast = SampleRows()
    for station, v2, action, request in messages:
        fast.add(station, AT, v2, action, request)
    rows, streams = _reference(messages, AT)
    assert fast.streams() == streams
    assert fast.count == sum(len(r[7]) for r in rows)
    assert (fast.lo, fast.hi) == ((min(r[0] for r in rows), max(r[0] for r in rows)) if rows else (None, None))
    assert fast.spans == register_spans(rows)


def test_a_batch_across_midnight_gives_one_stream_per_day_and_plain_values_skip_nothing() -> None:
    rows = SampleRows()
    request = {"connectorId": 1, "transactionId": 7, "meterValue": [
        {"timestamp": _iso(AT - timedelta(minutes=1)), "sampledValue": [{"value": "1.5", "unit": "kWh"},
                                                                          {"value": "nan"}, {"value": "1_000"}]},
        {"timestamp": _iso(AT + timedelta(minutes=5)), "sampledValue": [{"value": "1600"}, {"value": " 2 "}]}]}
    rows.add("CP", AT, False, "MeterValues", request)
    assert sorted(rows.streams()) == [date(2026, 3, 10), date(2026, 3, 11)]
    assert rows.count == 3
    assert rows.spans == {("CP", "7"): [1, 1, 2.0, 1600.0]}  # " 2 " is a register value in Wh too
    assert (rows.lo, rows.hi) == (AT - timedelta(minutes=1), AT + timedelta(minutes=5))

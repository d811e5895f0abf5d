"""Throughput of the pure OCPP-J layer: parse + validate a frame, and the same plus serialising the answer.

Run: ``uv run python bench/bench_protocol.py [seconds-per-case]``. One core, no I/O. The edge's budget is
5,000 MeterValues (10 sampled values) per second per core end to end; this layer aims at 30,000/s.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial

import orjson

from ocpp_edge import protocol

MEASURANDS = ["Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage", "SoC"]


def meter_values_16() -> bytes:
    """A 1.6 MeterValues CALL with one meterValue of 10 sampledValue entries."""
    sampled = [
        {
            "value": f"{1234.5 + i:.1f}",
            "context": "Sample.Periodic",
            "measurand": MEASURANDS[i % len(MEASURANDS)],
            "phase": ["L1", "L2"][i % 2],
            "location": "Outlet",
            "unit": "Wh" if i % len(MEASURANDS) == 0 else "W",
        }
        for i in range(10)
    ]
    payload = {
        "connectorId": 1,
        "transactionId": 42,
        "meterValue": [{"timestamp": "2026-01-01T12:00:00.123Z", "sampledValue": sampled}],
    }
    return orjson.dumps([2, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "MeterValues", payload])


def transaction_event_201() -> bytes:
    """A 2.0.1 TransactionEvent Updated CALL with 10 sampled values."""
    sampled = [
        {
            "value": 1234.5 + i,
            "context": "Sample.Periodic",
            "measurand": MEASURANDS[i % len(MEASURANDS)],
            "phase": "L1",
            "location": "Outlet",
            "unitOfMeasure": {"unit": "Wh", "multiplier": 0},
        }
        for i in range(10)
    ]
    payload = {
        "eventType": "Updated",
        "timestamp": "2026-01-01T12:00:00.123Z",
        "triggerReason": "MeterValuePeriodic",
        "seqNo": 7,
        "offline": False,
        "transactionInfo": {"transactionId": "tx-0001", "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
        "idToken": {"idToken": "04A2B3C4D5E6F7", "type": "ISO14443"},
        "meterValue": [{"timestamp": "2026-01-01T12:00:00.123Z", "sampledValue": sampled}],
    }
    return orjson.dumps([2, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "TransactionEvent", payload])


def handle(raw: bytes, version: str, answer: dict[str, object] | None) -> bytes | None:
    """What the edge does per message: parse, validate, and (optionally) serialise the CALLRESULT."""
    frame = protocol.parse_frame(raw, version)
    assert isinstance(frame, protocol.Call)
    protocol.validate_call(version, frame.action, frame.payload, message_id=frame.message_id)
    return None if answer is None else protocol.call_result(frame.message_id, answer)


def rate(work: Callable[[], object], seconds: float) -> float:
    """Calls of `work` per CPU-second of this process (other load on the host does not count), best of 3."""
    best = 0.0
    for _ in range(3):
        calls, started = 0, time.process_time()
        while (elapsed := time.process_time() - started) < seconds:
            for _ in range(1000):
                work()
            calls += 1000
        best = max(best, calls / elapsed)
    return best


def main() -> None:
    """Print msgs/s for each case."""
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    protocol.warm_up(["ocpp1.6", "ocpp2.0.1"])
    cases: dict[str, tuple[bytes, str, dict[str, object]]] = {
        "1.6 MeterValues (10 sampled values)": (meter_values_16(), "ocpp1.6", {}),
        "2.0.1 TransactionEvent (10 sampled values)": (transaction_event_201(), "ocpp2.0.1", {"idTokenInfo": {}}),
    }
    for name, (raw, version, answer) in cases.items():
        parse_validate = rate(partial(handle, raw, version, None), seconds)
        with_answer = rate(partial(handle, raw, version, answer), seconds)
        print(f"{name:45} {len(raw):5} B  parse+validate {parse_validate:9,.0f}/s  +answer {with_answer:9,.0f}/s")


if __name__ == "__main__":
    main()

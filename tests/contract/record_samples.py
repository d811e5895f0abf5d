"""Record one encoded sample per current schema into tests/contract/samples (run after adding a schema).

Existing samples are never rewritten: they are the past that later schema versions must keep reading.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas import AvroCodec, default_catalog

SAMPLES = Path(__file__).parent / "samples"
AT = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def example(schema: Any, name_hint: str = "") -> Any:
    if isinstance(schema, list):
        non_null = [s for s in schema if s != "null"]
        return example(non_null[0], name_hint) if non_null else None
    if isinstance(schema, str):
        return {"string": f"sample-{name_hint}", "long": 42, "int": 7, "boolean": True, "double": 1.5,
                "float": 0.5, "bytes": b"\x01\x02", "null": None}[schema]
    kind = schema["type"]
    logical = schema.get("logicalType")
    if logical == "uuid":
        return str(uuid.UUID(int=abs(hash(name_hint)) % (1 << 128)))
    if logical in ("timestamp-micros", "timestamp-millis"):
        return AT
    if kind == "record":
        return {f["name"]: example(f["type"], f["name"]) for f in schema["fields"]}
    if kind == "enum":
        return schema["symbols"][0]
    if kind == "array":
        return [example(schema["items"], name_hint)]
    if kind == "map":
        return {"k": example(schema["values"], name_hint)}
    return example(kind, name_hint)


def main() -> None:
    codec = AvroCodec()
    SAMPLES.mkdir(exist_ok=True)
    for schema in default_catalog():
        stem = f"{schema.name}@{schema.fingerprint_hex}"
        if (SAMPLES / f"{stem}.avro").exists():
            continue
        raw = json.loads(schema.source.read_text()) if schema.source else {}
        value = example(raw)
        (SAMPLES / f"{stem}.avro").write_bytes(codec.encode(schema.name, value))
        plain = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in value.items()
                 if not isinstance(v, bytes | dict) and not (isinstance(v, list) and v and isinstance(v[0], dict))}
        (SAMPLES / f"{stem}.json").write_text(json.dumps(plain, indent=1, sort_keys=True) + "\n")
        print("recorded", stem)


if __name__ == "__main__":
    main()

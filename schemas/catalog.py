"""Loads every `*.avsc` under `schemas/` (and the recorded past versions under `schemas/_history/`).

Each record schema is known by its full name (`csms.ocpp.OcppMessage`) and by the CRC-64-AVRO fingerprint of its
Parsing Canonical Form, which single-object encoding puts in front of every record.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

from schemas._fastdec import compile_record_decoder
from schemas._fastenc import compile_record

SCHEMA_ROOT = Path(__file__).resolve().parent
HISTORY_DIR = SCHEMA_ROOT / "_history"


class SchemaError(LookupError):
    """A schema is missing, malformed, or unknown to this catalogue."""


@dataclass(frozen=True)
class AvroSchema:
    """One parsed record schema."""

    name: str
    parsed: Any
    canonical: str
    fingerprint: bytes  # 8 bytes, little-endian CRC-64-AVRO, as single-object encoding writes it
    source: Path | None = None
    fast_encoder: Callable[[dict[str, Any]], bytes] | None = field(default=None, compare=False, repr=False)
    fast_decoder: Callable[[bytes, int], dict[str, Any]] | None = field(default=None, compare=False, repr=False)

    @property
    def fingerprint_hex(self) -> str:
        return self.fingerprint.hex()


def fingerprint_of(canonical: str) -> bytes:
    """CRC-64-AVRO fingerprint bytes (little-endian, as the Java implementation and the spec's framing use)."""
    return bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))  # fastavro's hex is already little-endian


def _build(raw: Mapping[str, Any], source: Path | None) -> AvroSchema:
    canonical = to_parsing_canonical_form(parse_schema(dict(raw), _write_hint=False))
    parsed = parse_schema(dict(raw))  # with fastavro's "already parsed" hint, so encode/decode never re-parse
    return AvroSchema(raw_full_name(raw), parsed, canonical, fingerprint_of(canonical), source,
                      compile_record(dict(raw)), compile_record_decoder(dict(raw)))


def raw_full_name(raw: Mapping[str, Any]) -> str:
    name = str(raw["name"])
    namespace = raw.get("namespace")
    return name if "." in name or not namespace else f"{namespace}.{name}"


class SchemaCatalog:
    """Current schemas by name, and every known writer schema (current and past) by fingerprint."""

    def __init__(self, current: Iterable[AvroSchema], history: Iterable[AvroSchema] = ()) -> None:
        self._by_name: dict[str, AvroSchema] = {}
        self._by_fingerprint: dict[bytes, AvroSchema] = {}
        for schema in current:
            if schema.name in self._by_name:
                raise SchemaError(f"schema {schema.name} is defined twice")
            self._by_name[schema.name] = schema
            self._by_fingerprint[schema.fingerprint] = schema
        for schema in history:
            self._by_fingerprint.setdefault(schema.fingerprint, schema)

    @classmethod
    def load(cls, roots: Iterable[Path] = (SCHEMA_ROOT,)) -> SchemaCatalog:
        """Parse every `.avsc` below `roots` (past versions from `_history/`)."""
        current: list[AvroSchema] = []
        history: list[AvroSchema] = []
        for root in roots:
            for path in sorted(root.rglob("*.avsc")):
                try:
                    schema = _build(json.loads(path.read_text()), path)
                except (ValueError, KeyError) as exc:
                    raise SchemaError(f"{path}: {exc}") from exc
                (history if HISTORY_DIR in path.parents else current).append(schema)
        return cls(current, history)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __iter__(self) -> Any:
        return iter(self._by_name.values())

    def get(self, name: str) -> AvroSchema:
        try:
            return self._by_name[name]
        except KeyError:
            raise SchemaError(f"unknown schema {name!r}") from None

    def by_fingerprint(self, fp: bytes) -> AvroSchema:
        try:
            return self._by_fingerprint[fp]
        except KeyError:
            raise SchemaError(f"unknown schema fingerprint {fp.hex()}") from None

    def reader_for(self, writer: AvroSchema) -> AvroSchema:
        """The current schema with the writer's name (the reader schema in schema resolution)."""
        return self._by_name.get(writer.name, writer)

    def known_fingerprints(self) -> set[bytes]:
        return set(self._by_fingerprint)


@cache
def default_catalog() -> SchemaCatalog:
    """The catalogue of the schemas shipped in this repository (loaded once per process)."""
    return SchemaCatalog.load()

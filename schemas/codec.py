"""Avro codec for Kafka records, with fastavro.

Framing (DESIGN.md decision 8):
- single-object encoding by default: `C3 01` + 8-byte CRC-64-AVRO fingerprint (little-endian) + Avro body, so
  any consumer decodes a record from `schemas/` alone;
- the Confluent wire format (`00` + 4-byte big-endian schema id + body) when a schema registry is configured.
Readers tell the two apart by the first byte. Headers carry `schema`, `fingerprint` and `event_id`.
"""

from __future__ import annotations

import io
import struct
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import fastavro.read
from fastavro import schemaless_reader, schemaless_writer

from schemas.catalog import AvroSchema, SchemaCatalog, SchemaError, default_catalog

# uuid-typed fields decode as plain strings, as they are written (ids are compared with header values and keys)
fastavro.read.LOGICAL_READERS["string-uuid"] = lambda data, *_: data

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = 0
Headers = list[tuple[str, bytes]]


class DecodeError(ValueError):
    """The bytes are not a record this codec can read (bad framing, unknown schema, corrupt body)."""

    def __init__(self, message: str, *, unknown_schema: bool = False) -> None:
        super().__init__(message)
        self.unknown_schema = unknown_schema


class SchemaIdResolver(Protocol):
    """Maps schemas to Confluent schema-registry ids and back."""

    def id_for(self, subject: str, schema: AvroSchema) -> int: ...

    def schema_for(self, schema_id: int) -> AvroSchema: ...


@dataclass(frozen=True)
class Decoded:
    """A decoded record: its schema's full name, the value, and the writer schema's fingerprint."""

    schema: str
    value: dict[str, Any]
    fingerprint: bytes


class AvroCodec:
    """Encodes and decodes records of the schemas in a catalogue."""

    def __init__(self, catalog: SchemaCatalog | None = None, registry: SchemaIdResolver | None = None) -> None:
        self.catalog = catalog or default_catalog()
        self.registry = registry

    def encode(self, schema_name: str, value: Mapping[str, Any], *, subject: str | None = None) -> bytes:
        """Serialise `value` with the current schema `schema_name`."""
        schema = self.catalog.get(schema_name)
        if schema.fast_encoder is not None and (self.registry is None or subject is None):
            return SINGLE_OBJECT_MAGIC + schema.fingerprint + schema.fast_encoder(value)  # type: ignore[arg-type]
        buf = io.BytesIO()
        if self.registry is not None and subject is not None:
            buf.write(struct.pack(">bI", CONFLUENT_MAGIC, self.registry.id_for(subject, schema)))
        else:
            buf.write(SINGLE_OBJECT_MAGIC)
            buf.write(schema.fingerprint)
        schemaless_writer(buf, schema.parsed, dict(value))
        return buf.getvalue()

    def headers(self, schema_name: str, event_id: str | uuid.UUID) -> Headers:
        """The record headers that go with an encoded value."""
        schema = self.catalog.get(schema_name)
        return [
            ("schema", schema.name.encode()),
            ("fingerprint", schema.fingerprint_hex.encode()),
            ("event_id", str(event_id).encode()),
        ]

    def decode(self, data: bytes) -> Decoded:
        """Read a record in either framing, resolving the writer schema to the current reader schema."""
        if len(data) >= 10 and data[:2] == SINGLE_OBJECT_MAGIC:
            try:
                writer = self.catalog.by_fingerprint(bytes(data[2:10]))
            except SchemaError as exc:
                raise DecodeError(str(exc), unknown_schema=True) from None
            body = 10
        elif len(data) >= 5 and data[0] == CONFLUENT_MAGIC:
            if self.registry is None:
                raise DecodeError("Confluent-framed record but no schema registry is configured")
            (schema_id,) = struct.unpack(">I", data[1:5])
            try:
                writer = self.registry.schema_for(schema_id)
            except (SchemaError, LookupError) as exc:
                raise DecodeError(f"unknown schema id {schema_id}: {exc}", unknown_schema=True) from None
            body = 5
        else:
            raise DecodeError(f"not an Avro single-object or Confluent record (first bytes {data[:2]!r})")
        reader = self.catalog.reader_for(writer)
        try:
            value: object
            if reader.fast_decoder is not None and writer.fingerprint == reader.fingerprint:
                # written with the current schema: nothing to resolve
                value = reader.fast_decoder(data if type(data) is bytes else bytes(data), body)
            else:
                value = schemaless_reader(io.BytesIO(data[body:]), writer.parsed, reader.parsed)
        except Exception as exc:  # fastavro raises many types on corrupt input
            raise DecodeError(f"corrupt {writer.name} body: {exc!r}") from None
        if not isinstance(value, dict):
            raise DecodeError(f"{writer.name} is not a record schema")
        return Decoded(reader.name, value, writer.fingerprint)


def header(headers: Sequence[tuple[str, bytes]] | None, name: str) -> bytes | None:
    """The first value of header `name`, if any."""
    for key, value in headers or ():
        if key == name:
            return value
    return None

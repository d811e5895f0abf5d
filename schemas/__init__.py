"""Contracts of the CSMS: the Avro schemas of every event, the topic declarations, and the codec for both."""

from schemas.catalog import AvroSchema, SchemaCatalog, SchemaError, default_catalog
from schemas.codec import AvroCodec, Decoded, DecodeError, header
from schemas.topics import TopicCatalog, TopicError, TopicSpec, default_topics, load_topics

__all__ = [
    "AvroCodec",
    "AvroSchema",
    "DecodeError",
    "Decoded",
    "SchemaCatalog",
    "SchemaError",
    "TopicCatalog",
    "TopicError",
    "TopicSpec",
    "default_catalog",
    "default_topics",
    "header",
    "load_topics",
]

"""The loader of `topics.yaml`, the single source of truth for topics. Code finds topics only through it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

TOPICS_FILE = Path(__file__).resolve().parent.parent / "topics.yaml"


class TopicError(LookupError):
    """topics.yaml is malformed or a topic is not declared in it."""


@dataclass(frozen=True)
class TopicSpec:
    """One declared topic."""

    name: str
    key: str
    partitions: int
    cleanup_policy: Literal["delete", "compact", "compact,delete"]
    retention_ms: int
    value_schema: str | None
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    other_schemas: tuple[str, ...] = ()  # further record types on a topic of several event types

    @property
    def all_schemas(self) -> tuple[str, ...]:
        """Every record type the topic carries: `value_schema` (the default) and `other_schemas`."""
        return ((self.value_schema,) if self.value_schema else ()) + self.other_schemas

    def kafka_config(self) -> dict[str, str]:
        """Topic-level configs for CreateTopics/AlterConfigs."""
        cfg = {"cleanup.policy": self.cleanup_policy, "retention.ms": str(self.retention_ms)}
        cfg.update(self.config)
        return cfg


@dataclass(frozen=True)
class TopicCatalog:
    """Declared topics, optionally under a name prefix (isolates tests and tenants on one cluster)."""

    specs: tuple[TopicSpec, ...]
    prefix: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {s.name: s for s in self.specs})

    def spec(self, logical: str) -> TopicSpec:
        try:
            return self._by_name[logical]  # type: ignore[attr-defined,no-any-return]
        except KeyError:
            raise TopicError(f"topic {logical!r} is not declared in topics.yaml") from None

    def name(self, logical: str) -> str:
        """The physical topic name of a declared topic."""
        return self.prefix + self.spec(logical).name

    def logical(self, physical: str) -> str:
        if not physical.startswith(self.prefix):
            raise TopicError(f"{physical!r} is not under prefix {self.prefix!r}")
        return self.spec(physical[len(self.prefix):]).name

    def with_prefix(self, prefix: str) -> TopicCatalog:
        return TopicCatalog(self.specs, prefix)


def _spec(raw: dict[str, Any], defaults: dict[str, Any]) -> TopicSpec:
    merged = {**defaults, **raw}
    try:
        spec = TopicSpec(
            name=str(merged["name"]),
            key=str(merged["key"]),
            partitions=int(merged["partitions"]),
            cleanup_policy=merged["cleanup_policy"],
            retention_ms=int(merged["retention_ms"]),
            value_schema=merged.get("value_schema"),
            description=str(merged.get("description", "")).strip(),
            config={str(k): str(v) for k, v in (merged.get("config") or {}).items()},
            other_schemas=tuple(str(name) for name in merged.get("other_schemas") or ()),
        )
    except KeyError as exc:
        raise TopicError(f"topic {raw.get('name', '?')!r}: missing {exc.args[0]!r}") from None
    if spec.partitions < 1:
        raise TopicError(f"topic {spec.name!r}: partitions must be >= 1")
    if spec.cleanup_policy not in ("delete", "compact", "compact,delete"):
        raise TopicError(f"topic {spec.name!r}: bad cleanup_policy {spec.cleanup_policy!r}")
    return spec


def load_topics(path: Path = TOPICS_FILE, prefix: str = "") -> TopicCatalog:
    """Parse topics.yaml."""
    data = yaml.safe_load(path.read_text())
    defaults = data.get("defaults") or {}
    specs = tuple(_spec(raw, defaults) for raw in data["topics"])
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise TopicError("topics.yaml declares a topic twice")
    return TopicCatalog(specs, prefix)


@cache
def default_topics() -> TopicCatalog:
    return load_topics()

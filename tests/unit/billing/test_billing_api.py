"""The billing domain's public surface is what its __init__ exports, and it stays pure."""

from __future__ import annotations

import ast
import types
from pathlib import Path

import processors.billing.domain as domain

DOMAIN = Path(domain.__file__).parent
ALLOWED_IMPORTS = {"__future__", "bisect", "collections", "dataclasses", "datetime", "decimal", "enum", "functools",
                   "itertools", "typing", "zoneinfo", "processors"}


def test_all_lists_every_public_name_and_only_those() -> None:
    public = {name for name, value in vars(domain).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert set(domain.__all__) == public


def test_the_domain_imports_no_io_orm_or_kafka() -> None:
    for path in DOMAIN.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert roots <= ALLOWED_IMPORTS, f"{path.name} imports {roots - ALLOWED_IMPORTS}"

"""The manifest's JSON Schema (schema_version 1), shipped in the package: `verify` checks every
manifest against it, so a damaged one is a finding with its path, not a traceback. schemas/ holds
the committed copy for other tools (`archival schema --kind manifest`)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator


@cache
def manifest_schema() -> dict[str, Any]:
    return json.loads(resources.files("archival.archive").joinpath("manifest.schema.json").read_text("utf-8"))


def manifest_schema_text() -> str:
    return json.dumps(manifest_schema(), indent=2, ensure_ascii=False) + "\n"


def manifest_problems(data: Any) -> list[str]:
    """Every way `data` breaks the schema, as `where: what` sentences (empty when it is a manifest)."""
    validator = Draft202012Validator(manifest_schema())
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
        problems.append(f"{where or 'manifest'}: {error.message[:200]}")
    return problems

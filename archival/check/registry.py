"""Named checks (`checks: [valid_email]` in a spec). Built-ins are below; a project adds its own in
`checks.py` next to archival.yaml:

    from archival.check.registry import register_check

    @register_check("valid_vat_id", families=("text",))
    def valid_vat_id(values):           # a polars Series -> a boolean Series (True = valid)
        return values.str.contains(r"^[A-Z]{2}[0-9A-Z]{8,12}$")

`families` (optional) names the column families the check applies to (source/types.py: text,
integer, float, decimal, ...); a spec that puts it on another column is a spec error."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import polars as pl

CheckFunction = Callable[[pl.Series], pl.Series]
_REGISTRY: dict[str, CheckFunction] = {}
_FAMILIES: dict[str, tuple[str, ...]] = {}


def register_check(name: str, families: tuple[str, ...] | None = None) -> Callable[[CheckFunction], CheckFunction]:
    def decorate(fn: CheckFunction) -> CheckFunction:
        _REGISTRY[name] = fn
        if families is not None:
            _FAMILIES[name] = tuple(families)
        return fn
    return decorate


def check_families(name: str) -> tuple[str, ...] | None:
    """The column families a named check applies to; None when it did not say (or is unknown)."""
    return _FAMILIES.get(name)


def get_check(name: str) -> CheckFunction | None:
    return _REGISTRY.get(name)


def known_checks() -> list[str]:
    return sorted(_REGISTRY)


_LOADED: set[Path] = set()


def load_project_checks(root: Path) -> None:
    """Import `<project>/checks.py` once, so its @register_check functions are known."""
    path = (root / "checks.py").resolve()
    if path in _LOADED or not path.exists():
        return
    _LOADED.add(path)
    spec = importlib.util.spec_from_file_location(f"archival_project_checks_{abs(hash(str(path)))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


@register_check("valid_email", families=("text",))
def _valid_email(values: pl.Series) -> pl.Series:
    return values.str.contains(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@register_check("not_blank", families=("text",))
def _not_blank(values: pl.Series) -> pl.Series:
    return values.str.strip_chars().str.len_chars() > 0

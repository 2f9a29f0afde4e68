"""Does each check of a contract fit its column's archive type? `min` on text or `regex` on a number
cannot check anything: Pandera would raise inside the check on every batch. Such a contract is a
spec error, found by `archival validate --connect` (from the probe's type rules) and again when a
unit starts (from the Arrow schema it reads), before a row is judged."""

from __future__ import annotations

import re

import pyarrow as pa

from archival.check.registry import check_families
from archival.source.probe import TableFacts
from archival.source.types import ColumnRead, Family, archive_family
from archival.spec.model import Column, Table

NUMBERS: tuple[Family, ...] = ("integer", "float", "decimal")
_DECLARED: dict[str, tuple[Family, ...]] = {
    "int8": ("integer",), "int16": ("integer",), "int32": ("integer",), "int64": ("integer",),
    "float32": NUMBERS, "float64": NUMBERS, "decimal": ("decimal", "integer"),
    "string": ("text",), "json": ("text",), "uuid": ("text",), "boolean": ("boolean",), "date": ("date",),
    "timestamp": ("timestamp",), "timestamptz": ("timestamptz",), "time": ("time", "text"), "binary": ("binary",),
}


def arrow_family(arrow_type: pa.DataType) -> Family:
    if pa.types.is_integer(arrow_type):
        return "integer"
    if pa.types.is_floating(arrow_type):
        return "float"
    if pa.types.is_decimal(arrow_type):
        return "decimal"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "text"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_timestamp(arrow_type):
        return "timestamptz" if arrow_type.tz else "timestamp"
    if pa.types.is_time(arrow_type):
        return "time"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return "binary"
    if pa.types.is_nested(arrow_type):
        return "nested"
    return "other"


def _allowed_fits(values: tuple, family: Family) -> bool:
    if family == "text":
        return all(isinstance(v, str) for v in values)
    if family in NUMBERS:
        return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if family == "boolean":
        return all(isinstance(v, bool) for v in values)
    return False


def column_fit(column: Column, family: Family, shown: str) -> list[str]:
    """Sentences naming each check of `column` that cannot apply to a column of `family`."""
    problems = []

    def misfit(check: str, needs: str) -> None:
        problems.append(f"column '{column.name}': `{check}` needs {needs}, but the column is {shown}")

    if column.type is not None:
        wanted = _DECLARED["decimal" if column.type.startswith("decimal") else column.type]
        if family not in wanted:
            misfit(f"type: {column.type}", " or ".join(wanted))
    for key in ("min", "max"):
        if getattr(column, key) is not None and family not in NUMBERS:
            misfit(key, "a number column")
    for key in ("regex", "max_length"):
        if getattr(column, key) is not None and family != "text":
            misfit(key, "a text column")
    if column.allowed is not None and not _allowed_fits(column.allowed, family):
        misfit("allowed", "values of the column's kind (text: strings, numbers: numbers, boolean: true/false)")
    for name in column.checks:
        families = check_families(name)
        if families is not None and family not in families:
            misfit(f"checks: {name}", " or ".join(families) + " column")
    return problems


def fit_problems(table: Table, families: dict[str, tuple[Family, str]]) -> list[str]:
    """Misfits of the table's contract; `families`: column -> (family, type as shown to people).
    Columns the source lacks are reported by the probe, PII-dropped ones are never read."""
    problems = []
    for column in table.columns:
        if column.name in families:
            problems += column_fit(column, *families[column.name])
    return problems


def contract_misfits(tables: list[Table], facts: dict[str, TableFacts]) -> list[str]:
    """`file:line:col: message` for each table whose contract does not fit the columns the probe saw."""
    found = []
    for table in tables:
        reads = facts[table.qualified_name].reads
        problems = fit_problems(table, families_of_reads(reads)) if reads else []
        if problems:
            found.append(f"{table.location}: {table.qualified_name}: " + "; ".join(problems))
    return found


def families_of_schema(schema: pa.Schema) -> dict[str, tuple[Family, str]]:
    return {f.name: (arrow_family(f.type), str(f.type)) for f in schema}


def families_of_reads(reads: tuple[ColumnRead, ...] | list[ColumnRead]) -> dict[str, tuple[Family, str]]:
    return {r.name: (archive_family(r), r.column.native_type or r.column.duck_type) for r in reads}


def declared_decimal(column: Column) -> tuple[int, int] | None:
    """(precision, scale) of a `type: decimal(P,S)` declaration."""
    match = re.match(r"^decimal\((\d+),(\d+)\)$", column.type or "")
    return (int(match.group(1)), int(match.group(2))) if match else None

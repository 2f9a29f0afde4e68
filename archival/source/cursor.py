"""SQL for a table's cursor: the expression (first non-NULL of the cursor columns) and typed bound
literals at full precision. Shared by the plan's probes and the extract queries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

NAIVE_TYPES = ("TIMESTAMP", "DATETIME", "DATE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS")


def is_naive(duck_type: str) -> bool:
    kind = duck_type.upper()
    return kind in NAIVE_TYPES or (kind.startswith("TIMESTAMP(") and "ZONE" not in kind)


def bound_literal(instant: datetime, naive: bool, zone: str, native: bool) -> str:
    """A literal of `instant` comparable with the cursor column. Naive columns hold wall time of
    `zone`; `native` renders PostgreSQL syntax, else DuckDB's."""
    if naive:
        wall = instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        text = wall.isoformat(sep=" ", timespec="microseconds")
        return f"'{text}'::timestamp" if native else f"TIMESTAMP '{text}'"
    text = instant.isoformat(sep=" ", timespec="microseconds")
    return f"'{text}'::timestamptz" if native else f"TIMESTAMPTZ '{text}'"


def cursor_expr(names: tuple[str, ...], ident: Callable[[str], str]) -> str:
    cols = [ident(n) for n in names]
    return cols[0] if len(cols) == 1 else f"coalesce({', '.join(cols)})"


def range_predicate(expr: str, start: datetime, end: datetime, naive: bool, zone: str, native: bool) -> str:
    """Half-open [start, end): a row exactly on an edge belongs to exactly one range."""
    lo, hi = bound_literal(start, naive, zone, native), bound_literal(end, naive, zone, native)
    return f"{expr} >= {lo} AND {expr} < {hi}"


def cursor_range_predicate(names: tuple[str, ...], ident: Callable[[str], str], start: datetime, end: datetime,
                           naive: bool, zone: str, native: bool) -> str:
    """`coalesce(c1, c2, ...)` in [start, end), written as an OR of one range per column (each guarded
    by the NULLs before it): the same rows, but each branch can use that column's index, where an
    expression over coalesce() forces a full scan."""
    if len(names) == 1:
        return range_predicate(ident(names[0]), start, end, naive, zone, native)
    branches = []
    for i, name in enumerate(names):
        nulls = [f"{ident(n)} IS NULL" for n in names[:i]]
        branches.append("(" + " AND ".join([*nulls, range_predicate(ident(name), start, end, naive, zone, native)])
                        + ")")
    return "(" + " OR ".join(branches) + ")"


def cursor_outside_predicate(names: tuple[str, ...], ident: Callable[[str], str], start: datetime, end: datetime,
                             naive: bool, zone: str, native: bool) -> str:
    """A non-NULL cursor outside [start, end): the rows no calendar period can hold (a year-1 or a
    year-9999 value). A NULL cursor compares as NULL, so those rows stay with `period=null`."""
    expr = cursor_expr(names, ident)
    lo, hi = bound_literal(start, naive, zone, native), bound_literal(end, naive, zone, native)
    return f"({expr} < {lo} OR {expr} >= {hi})"


def null_cursor_predicate(names: tuple[str, ...], ident: Callable[[str], str]) -> str:
    return " AND ".join(f"{ident(n)} IS NULL" for n in names)

"""A purge batch's keys as SQL: a predicate in DuckDB's dialect and in the source engine's own (for
the statements a purge runs natively: the row locks), and a digest of a key set that a dry run and
the real run can be compared by."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal

import pyarrow as pa

from archival.extract.query import RowsFilter
from archival.sql import Dialect, quote_ident, sql_literal


class UnsupportedKey(ValueError):
    """A key value that cannot be written as a literal safely (binary, nested)."""


def _literal(value: object, dialect: Dialect) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str | date | datetime) or type(value).__name__ == "UUID":
        return sql_literal(str(value), dialect)
    raise UnsupportedKey(f"a key value of type {type(value).__name__} cannot be purged by key")


def predicate(key: tuple[str, ...], rows: list[tuple], dialect: Dialect) -> str:
    """`rows` (key tuples, at least one) as a WHERE predicate over the key columns."""
    names = [quote_ident(k, dialect) for k in key]
    if len(names) == 1:
        return f"{names[0]} IN ({', '.join(_literal(r[0], dialect) for r in rows)})"
    return " OR ".join("(" + " AND ".join(f"{n} = {_literal(v, dialect)}" for n, v in zip(names, r, strict=True))
                       + ")" for r in rows)


def rows_filter(key: tuple[str, ...], rows: list[tuple]) -> RowsFilter:
    return RowsFilter(native=predicate(key, rows, "postgres"), duck=predicate(key, rows, "duckdb"))


def key_tuples(table: pa.Table, key: tuple[str, ...]) -> list[tuple]:
    columns = [table.column(k).to_pylist() for k in key]
    return list(zip(*columns, strict=True))


def keys_digest(rows: list[tuple]) -> str:
    """sha256 of the keys' text, sorted: equal for equal key sets, whatever their order."""
    lines = sorted("\x1f".join("" if v is None else str(v) for v in r) for r in rows)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def key_range(rows: list[tuple]) -> list[object] | None:
    """[lowest, highest] key (a key's value when it has one column)."""
    if not rows:
        return None
    low, high = min(rows), max(rows)
    return [_plain(low), _plain(high)]


def _plain(row: tuple) -> object:
    values = [v if isinstance(v, int | str) or v is None else str(v) for v in row]
    return values[0] if len(values) == 1 else values

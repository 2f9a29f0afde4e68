"""The SQL that reads one unit. Identifiers are quoted for the engine at hand (archival.sql); bound
values are rendered by typed literals built here from datetimes, never from user text.

Strategy per unit, chosen from the source:
- `native`: PostgreSQL, every unit, through postgres_query(): the filter and the ORDER BY run in
  PostgreSQL, which streams rows in key order from the primary-key index (or sorts within its own
  work_mem, spilling to disk). So the cursor's index serves a period (DuckDB's ctid-range scan reads
  the whole table even for one month), no DuckDB sort holds the table in memory, and the type rules
  that need a cast (source/types.py: wide numerics to decimal(38,S), time with time zone and
  interval to text) run in PostgreSQL. Against DuckDB's parallel ctid scan and a DuckDB sort this cut a
  5M-row export's peak memory from 1.7 GiB to under 400 MiB (docs/performance.md has the current figures).
- `scan`: the attached catalog (SQLite, MySQL): DuckDB pushes simple filters down and sorts.
- `clustered`: MySQL/MariaDB units that read a whole table keyed by one integer column: the
  attached catalog without ORDER BY. InnoDB returns a full scan in primary-key order (its clustered
  index), so no DuckDB sort holds the table before the first row; the order is not promised by SQL,
  so the snapshot verifies it batch by batch and the unit starts over with `scan` if it breaks.
All run inside the unit's DuckDB transaction, so they see one snapshot.

The count comes first: on PostgreSQL it also measures the `decimal` columns (largest scale and
value), from which their archive type is chosen before the rows are read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from archival.plan.units import NULL_PERIOD, OUT_OF_RANGE, SPECIAL_PERIODS, ExportUnit
from archival.source.columns import SourceColumn
from archival.source.cursor import cursor_outside_predicate, cursor_range_predicate, null_cursor_predicate
from archival.source.types import ColumnRead
from archival.spec.model import SourceType, Table
from archival.sql import qualified, quote_ident, quote_relation, sql_literal

Strategy = Literal["native", "scan", "clustered"]
_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")


@dataclass(frozen=True)
class ExtractQuery:
    strategy: Strategy
    rows_sql: str  # ordered by primary key
    columns: tuple[str, ...]


@dataclass(frozen=True)
class RowsFilter:
    """One more predicate on the rows a read takes (the keys of a purge batch), in both dialects."""

    native: str  # PostgreSQL's SQL, for the `native` strategy
    duck: str  # DuckDB's SQL over the attached catalog


def _narrowed(where: str, extra: str | None) -> str:
    if not extra:
        return where
    return f"{where} AND ({extra})" if where else f" WHERE {extra}"


@dataclass(frozen=True)
class CountQuery:
    sql: str  # one row: the count, then per `decimal` column its largest scale and largest absolute value
    measured: tuple[str, ...]  # the `decimal` columns, in that order


def _where(unit: ExportUnit, table: Table, columns: dict[str, SourceColumn], native: bool, ident) -> str:
    if unit.period == NULL_PERIOD:
        return " WHERE " + null_cursor_predicate(table.cursor, ident)
    if unit.window is None:
        return ""
    # every cursor column of one table has one kind (checked at probe time), so one literal type fits all
    naive = columns[table.cursor[0]].is_naive_timestamp
    if unit.period == OUT_OF_RANGE:
        return " WHERE " + cursor_outside_predicate(table.cursor, ident, unit.window.start, unit.window.end, naive,
                                                    table.timezone, native)
    return " WHERE " + cursor_range_predicate(table.cursor, ident, unit.window.start, unit.window.end, naive,
                                              table.timezone, native)


def native_where(table: Table, unit: ExportUnit, reads: list[ColumnRead]) -> str:
    """The unit's WHERE in PostgreSQL's SQL (empty for a whole table)."""
    return _where(unit, table, {r.name: r.column for r in reads}, True, _pg)


def choose_strategy(source_type: SourceType) -> Strategy:
    return "native" if source_type == "postgres" else "scan"


def clustered_key(source_type: SourceType, table: Table, unit: ExportUnit, columns: list[SourceColumn]) -> str | None:
    """The key column a `clustered` read may rely on, or None."""
    if source_type != "mysql" or unit.window is not None or unit.period in SPECIAL_PERIODS \
            or len(table.primary_key) != 1:
        return None
    key = next((c for c in columns if c.name == table.primary_key[0]), None)
    return key.name if key is not None and key.duck_type.upper() in _INTEGER_TYPES else None


def _pg(name: str) -> str:
    return quote_ident(name, "postgres")


def _pg_select(read: ColumnRead, scales: dict[str, int]) -> str:
    """The column in PostgreSQL's SELECT list, cast where its rule says so."""
    col = _pg(read.name)
    if read.rule == "decimal":
        return f"CAST(CAST({col} AS numeric) AS numeric(38,{scales[read.name]})) AS {col}"
    if read.rule == "float_declared":
        return f"CAST({col} AS double precision) AS {col}"
    if read.rule == "text":
        return f"CAST({col} AS text) AS {col}"
    return col


def count_query(source_type: SourceType, table: Table, unit: ExportUnit, reads: list[ColumnRead],
                alias: str = "src", rows_filter: RowsFilter | None = None) -> CountQuery:
    by_name = {r.name: r.column for r in reads}
    if choose_strategy(source_type) == "native":
        measured = tuple(r.name for r in reads if r.rule == "decimal")
        probes = "".join(f", max(scale(CAST({_pg(n)} AS numeric))) AS s{i}, "
                         f"max(abs(CAST({_pg(n)} AS numeric)))::text AS m{i}" for i, n in enumerate(measured))
        where = _narrowed(_where(unit, table, by_name, True, _pg), rows_filter and rows_filter.native)
        native = f"SELECT count(*) AS n{probes} FROM {quote_relation(table.relation, 'postgres')}{where}"
        return CountQuery(f"SELECT * FROM postgres_query({sql_literal(alias)}, {sql_literal(native)})", measured)
    where = _narrowed(_where(unit, table, by_name, False, quote_ident), rows_filter and rows_filter.duck)
    return CountQuery(f"SELECT count(*) FROM {qualified(alias, table.relation)}{where}", ())


def build_query(source_type: SourceType, table: Table, unit: ExportUnit, reads: list[ColumnRead],
                scales: dict[str, int] | None = None, alias: str = "src", clustered: bool = False,
                rows_filter: RowsFilter | None = None) -> ExtractQuery:
    """`scales`: the chosen scale of each `decimal` column. `clustered`: the caller verifies key
    order, so a `clustered` read is allowed where it fits. `rows_filter`: only these rows."""
    scales = scales or {}
    by_name = {r.name: r.column for r in reads}
    names = tuple(r.name for r in reads)
    strategy = choose_strategy(source_type)
    order_keys = ", ".join(quote_ident(k, "postgres" if strategy == "native" else "duckdb")
                           for k in table.primary_key)
    if strategy == "native":
        select = ", ".join(_pg_select(r, scales) for r in reads)
        where = _narrowed(_where(unit, table, by_name, True, _pg), rows_filter and rows_filter.native)
        native = f"SELECT {select} FROM {quote_relation(table.relation, 'postgres')}{where} ORDER BY {order_keys}"
        rows = f"SELECT * FROM postgres_query({sql_literal(alias)}, {sql_literal(native)})"
    else:
        select = ", ".join(quote_ident(n) for n in names)
        where = _where(unit, table, by_name, False, quote_ident)
        where = _narrowed(where, rows_filter and rows_filter.duck)
        rows = f"SELECT {select} FROM {qualified(alias, table.relation)}{where}"
        if clustered and clustered_key(source_type, table, unit, list(by_name.values())):
            strategy = "clustered"
        else:
            rows += f" ORDER BY {order_keys}"
    if any(r.rule == "json_text" for r in reads):
        # a projection keeps the order of the rows it reads (preserve_insertion_order is on)
        outer = ", ".join(f"CAST(to_json({quote_ident(r.name)}) AS VARCHAR) AS {quote_ident(r.name)}"
                          if r.rule == "json_text" else quote_ident(r.name) for r in reads)
        rows = f"SELECT {outer} FROM ({rows}) AS rows"
    return ExtractQuery(strategy, rows, names)


__all__ = ["CountQuery", "ExtractQuery", "RowsFilter", "SourceColumn", "Strategy", "build_query", "clustered_key",
           "count_query", "native_where"]

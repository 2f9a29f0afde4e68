"""Cheap read-only questions to a source: which columns a relation has, and the earliest cursor
value. On PostgreSQL and MySQL the min() runs natively (postgres_query / mysql_query) so it is
answered from an index instead of a table scan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import duckdb

from archival.source import duck
from archival.source.cursor import (
    cursor_range_predicate,
    format_key_checksum,
    is_naive,
    key_checksum_sql,
    null_cursor_predicate,
)
from archival.source.duck import SourceError, qualified, quote_ident, sql_literal
from archival.spec.model import Project, Source, Table


@dataclass(frozen=True)
class TableFacts:
    """What the source said about a table; `problem` when it could not say. `probed` tells a source
    that answered (a problem is then a spec/source mismatch) from one that could not be reached."""

    earliest: datetime | None = None  # first cursor value (UTC); None: empty table or unknown
    problem: str | None = None
    probed: bool = False
    null_rows: int | None = None  # rows whose cursor is NULL (window/incremental tables)
    # per archived window period: (source rows, checksum of their keys), to find late rows and deletes
    range_counts: dict[str, tuple[int, str]] | None = None


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str  # DuckDB's name for the type as the scanner presents it


def describe(con: duckdb.DuckDBPyConnection, alias: str, table: Table) -> list[ColumnInfo]:
    try:
        rows = con.execute(f"DESCRIBE {qualified(alias, table.relation)}").fetchall()
    except duckdb.CatalogException:
        raise SourceError(f"relation '{table.relation}' does not exist in the source") from None
    except duckdb.Error as exc:
        raise SourceError(f"cannot describe relation '{table.relation}': {exc}") from None
    return [ColumnInfo(r[0], r[1]) for r in rows]


TIME_TYPES = ("TIMESTAMP", "DATE", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS")


def column_problems(table: Table, columns: list[ColumnInfo]) -> list[str]:
    """What the spec needs of the relation's columns and the source does not offer, as sentences."""
    have = {c.name: c.type.upper() for c in columns}
    roles = ["primary key"] * len(table.primary_key) + ["cursor"] * len(table.cursor) + ["contract"] * len(
        table.columns)
    names = [*table.primary_key, *table.cursor, *(c.name for c in table.columns)]
    problems = [f"has no {role} column '{name}'" for role, name in zip(roles, names, strict=True) if name not in have]
    kinds = {name: have[name] for name in table.cursor if name in have}
    for name, kind in kinds.items():
        if not kind.startswith(TIME_TYPES):
            problems.append(f"has cursor column '{name}' of type {kind}, which is not a date or timestamp")
    if len({k.startswith("TIMESTAMP WITH") for k in kinds.values()}) > 1:
        problems.append("mixes cursor columns with and without time zone; cast them alike in a view")
    return problems


def to_utc(value: object, naive_zone: str) -> datetime | None:
    """A cursor value as an aware UTC instant; naive values hold wall time of `naive_zone`."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=ZoneInfo(naive_zone))
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, tzinfo=ZoneInfo(naive_zone))
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(naive_zone))
    else:
        raise SourceError(f"cursor value of type {type(value).__name__} is not a point in time")
    return moment.astimezone(UTC)


def earliest_cursor(con: duckdb.DuckDBPyConnection, alias: str, source: Source, table: Table) -> datetime | None:
    """The smallest value of any cursor column: where the first period starts. One min() per column
    keeps each query index-friendly; min over the first non-NULL is never earlier than this."""
    found: list[datetime] = []
    for column in table.cursor:
        if source.type in ("postgres", "mysql"):
            native = f"SELECT min({_native_ident(source, column)}) FROM {_native_relation(source, table.relation)}"
            sql = f"SELECT * FROM {source.type}_query('{alias}', {sql_literal(native)})"
        else:
            sql = f"SELECT min({quote_ident(column)}) FROM {qualified(alias, table.relation)}"
        try:
            value = con.execute(sql).fetchone()[0]
        except duckdb.Error as exc:
            raise SourceError(f"cannot read min({column}) of '{table.relation}': {exc}") from None
        moment = to_utc(value, table.timezone)
        if moment is not None:
            found.append(moment)
    return min(found) if found else None


def _native_ident(source: Source, name: str) -> str:
    # identifiers passed the spec's strict pattern, so quoting cannot be escaped
    return f"`{name}`" if source.type == "mysql" else f'"{name}"'


def _native_relation(source: Source, relation: str) -> str:
    return ".".join(_native_ident(source, part) for part in relation.split("."))


def count_ranges(con: duckdb.DuckDBPyConnection, alias: str, table: Table, columns: list[ColumnInfo],
                 ranges: dict[str, tuple[datetime, datetime]]) -> tuple[int, dict[str, tuple[int, str]]]:
    """Rows whose cursor is NULL, and per [start, end) range the rows and the checksum of their keys,
    in one scan of the cursor and key columns. A late row and a delete in one period cancel out in a
    count, not in the key checksum."""
    kinds = {c.name: c.type for c in columns}
    naive = is_naive(kinds[table.cursor[0]])
    aggregates = [f"count(*) FILTER (WHERE {null_cursor_predicate(table.cursor, quote_ident)})"]
    for lo, hi in ranges.values():
        where = cursor_range_predicate(table.cursor, quote_ident, lo, hi, naive, table.timezone, False)
        aggregates += [f"count(*) FILTER (WHERE {where})",
                       key_checksum_sql(list(table.primary_key), quote_ident, where)]
    try:
        row = con.execute(f"SELECT {', '.join(aggregates)} FROM {qualified(alias, table.relation)}").fetchone()
    except duckdb.Error as exc:
        raise SourceError(f"cannot count rows of '{table.relation}': {exc}") from None
    pairs = row[1:]
    return int(row[0]), {label: (int(pairs[2 * i]), format_key_checksum(pairs[2 * i + 1] or 0))
                         for i, label in enumerate(ranges)}


def native_null_count(con: duckdb.DuckDBPyConnection, alias: str, table: Table) -> int:
    where = null_cursor_predicate(table.cursor, lambda n: f'"{n}"')
    native = f"SELECT count(*) FROM {_native_relation_pg(table.relation)} WHERE {where}"
    try:
        return int(con.execute(f"SELECT * FROM postgres_query('{alias}', {sql_literal(native)})").fetchone()[0])
    except duckdb.Error as exc:
        raise SourceError(f"cannot count NULL cursors of '{table.relation}': {exc}") from None


def _native_relation_pg(relation: str) -> str:
    return ".".join(f'"{part}"' for part in relation.split("."))


def probe_tables(project: Project, tables: list[Table],
                 windows: dict[str, dict[str, tuple[datetime, datetime]]] | None = None) -> dict[str, TableFacts]:
    """Per table: the earliest cursor value, NULL-cursor rows and, for `windows[table]`, source rows per
    archived period; or the problem that kept us from knowing."""
    facts: dict[str, TableFacts] = {}
    by_source: dict[str, list[Table]] = {}
    for table in tables:
        domain = project.domain(table.domain)
        assert domain is not None
        by_source.setdefault(domain.source, []).append(table)
    for source_name, group in by_source.items():
        source = project.sources[source_name]
        try:
            with duck.POOL.connection((source.type,)) as con:
                duck.attach(con, source, project.root)
                for table in group:
                    facts[table.qualified_name] = _probe_table(con, source, table,
                                                               (windows or {}).get(table.qualified_name, {}))
        except duck.SourceError as exc:
            for table in group:
                facts.setdefault(table.qualified_name, TableFacts(problem=f"source not reachable: {exc}"))
    return facts


def _probe_table(con, source, table: Table, ranges: dict[str, tuple[datetime, datetime]]) -> TableFacts:
    try:
        columns = describe(con, "src", table)
        problems = column_problems(table, columns)
        if problems:
            return TableFacts(problem=f"{table.location}: relation '{table.relation}' " + "; ".join(problems),
                              probed=True)
        if not table.cursor:
            return TableFacts(probed=True)
        earliest = earliest_cursor(con, "src", source, table)
        if ranges or source.type != "postgres":
            nulls, counts = count_ranges(con, "src", table, columns, ranges)
        else:  # no archived windows to count: ask PostgreSQL itself, which answers IS NULL from indexes
            nulls, counts = native_null_count(con, "src", table), {}
        return TableFacts(earliest=earliest, probed=True, null_rows=nulls, range_counts=counts)
    except duck.SourceError as exc:
        return TableFacts(problem=f"{table.location}: {exc}", probed=True)

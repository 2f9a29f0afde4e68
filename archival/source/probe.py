"""Cheap read-only questions to a source before anything is exported: which columns a relation has
(and the archive type each will get), whether the spec fits them, and what the plan needs of the
cursor (source/cursor_stats.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import duckdb

from archival.source import duck
from archival.source.columns import SourceColumn, source_columns
from archival.source.cursor_stats import (
    OutOfRange,
    column_bounds,
    count_ranges,
    earliest_from,
    native_null_count,
    out_of_range,
)
from archival.source.transient import transient
from archival.source.types import ColumnRead, TypeRefused, read_rule
from archival.spec.model import Project, Source, Table


@dataclass(frozen=True)
class TableFacts:
    """What the source said about a table; `problem` when it could not say. `probed` tells a source
    that answered (a problem is then a spec/source mismatch) from one that could not be reached."""

    earliest: datetime | None = None  # first plausible cursor value (UTC); None: empty table or unknown
    problem: str | None = None
    probed: bool = False
    null_rows: int | None = None  # rows whose cursor is NULL (window/incremental tables)
    # per archived window period: (source rows, checksum of their keys), to find late rows and deletes
    range_counts: dict[str, tuple[int, str]] | None = None
    out_of_range: OutOfRange | None = None  # rows whose cursor lies outside the plausible range
    reads: tuple[ColumnRead, ...] = ()  # the columns an export reads, with their type rules
    reachable: bool = True  # False: the source did not answer (not: --offline)


@dataclass(frozen=True)
class ProbeRequest:
    """What the plan wants counted for one table: its archived window periods, and the plausible
    range [start, end) of its cursor."""

    ranges: dict[str, tuple[datetime, datetime]]
    plausible: tuple[datetime, datetime] | None = None


TIME_TYPES = ("TIMESTAMP", "DATE", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS")


def column_problems(table: Table, columns: list[SourceColumn]) -> list[str]:
    """What the spec needs of the relation's columns and the source does not offer, as sentences."""
    have = {c.name: c.duck_type.upper() for c in columns}
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


def type_problems(source: Source, table: Table, columns: list[SourceColumn]) -> tuple[list[ColumnRead], list[str]]:
    """The type rule of each column an export reads, and the columns no rule can archive unchanged."""
    dropped = {c.name for c in table.columns if c.pii == "drop"}
    declared = {c.name: c.type for c in table.columns}
    reads, problems = [], []
    for column in columns:
        if column.name in dropped:
            continue
        try:
            reads.append(ColumnRead(column, read_rule(source.type, column, declared.get(column.name), table.format)))
        except TypeRefused as exc:
            problems.append(str(exc))
    return reads, problems


PROBE_ATTEMPTS = 3  # a connection dropped mid-probe is asked again, twice, on a fresh one (not a source that is down)


def probe_tables(project: Project, tables: list[Table],
                 requests: dict[str, ProbeRequest] | None = None) -> dict[str, TableFacts]:
    """Per table: its columns and their type rules, the earliest plausible cursor value, the rows
    outside the plausible range, NULL-cursor rows and, for its archived windows, source rows per
    period; or the problem that kept us from knowing."""
    facts: dict[str, TableFacts] = {}
    by_source: dict[str, list[Table]] = {}
    for table in tables:
        domain = project.domain(table.domain)
        assert domain is not None
        by_source.setdefault(domain.source, []).append(table)
    for source_name, group in by_source.items():
        source = project.sources[source_name]
        for attempt in range(PROBE_ATTEMPTS):
            try:
                _probe_group(project, source, group, requests or {}, facts)
            except duck.SourceError as exc:
                for table in group:
                    facts.setdefault(table.qualified_name, TableFacts(problem=f"source not reachable: {exc}",
                                                                      reachable=False))
            lost = [t for t in group if (f := facts[t.qualified_name]).probed and transient(f.problem or "")]
            if not lost or attempt == PROBE_ATTEMPTS - 1:
                break
            for table in lost:  # a dropped connection: ask again on a fresh one
                del facts[table.qualified_name]
            group = lost
            time.sleep(0.5 * 2 ** attempt)
    return facts


def _probe_group(project: Project, source: Source, group: list[Table], requests: dict[str, ProbeRequest],
                 facts: dict[str, TableFacts]) -> None:
    with duck.POOL.connection((source.type,)) as con:
        duck.attach(con, source, project.root)
        for table in group:
            request = requests.get(table.qualified_name, ProbeRequest({}))
            facts[table.qualified_name] = _probe_table(con, source, table, request)


def _probe_table(con: duckdb.DuckDBPyConnection, source: Source, table: Table, request: ProbeRequest) -> TableFacts:
    try:
        columns = source_columns(con, "src", source.type, table)
        reads, refused = type_problems(source, table, columns)
        problems = column_problems(table, columns) + refused
        if problems:
            return TableFacts(problem=f"{table.location}: relation '{table.relation}' " + "; ".join(problems),
                              probed=True)
        if not table.cursor:
            return TableFacts(probed=True, reads=tuple(reads))
        earliest, outside = _plausible(con, source, table, columns, request.plausible)
        if request.ranges or source.type != "postgres":
            nulls, counts = count_ranges(con, table, columns, request.ranges)
        else:  # no archived windows to count: ask PostgreSQL itself, which answers IS NULL from indexes
            nulls, counts = native_null_count(con, source, table), {}
        return TableFacts(earliest=earliest, probed=True, null_rows=nulls, range_counts=counts,
                          out_of_range=outside, reads=tuple(reads))
    except duck.SourceError as exc:
        return TableFacts(problem=f"{table.location}: {exc}", probed=True)


def _plausible(con: duckdb.DuckDBPyConnection, source: Source, table: Table, columns: list[SourceColumn],
               plausible: tuple[datetime, datetime] | None) -> tuple[datetime | None, OutOfRange | None]:
    """The earliest plausible cursor value and what lies outside [start, end). Each column's min and
    max come from its index; only when one of them lies outside is the table scanned to count."""
    bounds = column_bounds(con, source, table)
    lows = [lo for lo, _ in bounds if lo is not None]
    if plausible is None:
        return (min(lows) if lows else None), None
    start, end = plausible
    if all((lo is None or lo >= start) and (hi is None or hi < end) for lo, hi in bounds):
        return (min(lows) if lows else None), OutOfRange(0, None, None)
    outside = out_of_range(con, source, table, columns, start, end)
    return earliest_from(con, source, table, columns, start), outside

"""Open one unit's snapshot: a DuckDB transaction on the attached source in which the source-side
row count and the ordered rows are read. Rows stream as Arrow record batches, so memory is bounded
by the batch size, not by the table."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from archival.extract.query import ExtractQuery, RowsFilter, build_query, count_query, native_where
from archival.extract.ranges import (
    INTEGER_TYPES,
    ParallelRead,
    RangedRead,
    export_snapshot,
    key_ranges,
    range_filter,
    split_bounds,
)
from archival.extract.session import ExtractError, configure, stream_natively
from archival.plan.units import ExportUnit
from archival.source import duck
from archival.source.columns import SourceColumn, source_columns
from archival.source.cursor import bound_literal, cursor_expr
from archival.source.shared import adopt
from archival.source.types import ColumnRead, TypeRefused, choose_scale, declared_scale, read_rule
from archival.spec.model import Source, Table
from archival.sql import qualified, quote_ident, quote_relation, sql_literal


class KeyOrderError(Exception):
    """A `clustered` read met a key not above the one before: the unit must read again, sorted."""


@dataclass
class UnitSnapshot:
    reads: list[ColumnRead]  # what is read, in order, and how (PII `drop` columns are never read)
    scales: dict[str, int]  # the chosen scale of each `decimal` column
    source_row_count: int
    query: ExtractQuery
    batches: Iterator[pa.RecordBatch]
    arrow_schema: pa.Schema
    connection: duckdb.DuckDBPyConnection | None = None  # the unit's transaction, for more questions

    @property
    def columns(self) -> list[SourceColumn]:
        return [r.column for r in self.reads]

    def count_all(self, source_type: str, relation: str) -> int:
        """Rows of the whole relation in this snapshot (PostgreSQL counts natively)."""
        assert self.connection is not None
        if source_type == "postgres":
            native = "SELECT count(*) FROM " + quote_relation(relation, "postgres")
            sql = f"SELECT * FROM postgres_query('src', {sql_literal(native)})"
        else:
            sql = f"SELECT count(*) FROM {qualified('src', relation)}"
        return int(self.connection.execute(sql).fetchone()[0])

    def all_keys(self, relation: str, key: tuple[str, ...]) -> pa.Table:
        assert self.connection is not None
        cols = ", ".join(quote_ident(k) for k in key)
        return self.connection.execute(f"SELECT {cols} FROM {qualified('src', relation)}").to_arrow_table()


@contextmanager
def open_snapshot(source: Source, root: Path, table: Table, unit: ExportUnit, *, batch_rows: int,
                  memory_limit: str = "1GB", threads: int = 2, shared_snapshot: str | None = None,
                  clustered: bool = False, scale_floor: dict[str, int] | None = None,
                  connection: duckdb.DuckDBPyConnection | None = None,
                  rows_filter: RowsFilter | None = None,
                  parallel: ParallelRead | None = None) -> Iterator[UnitSnapshot]:
    """`scale_floor`: per `decimal` column, the scale the table was archived with (its type may
    widen, never narrow). `connection`: a transaction shared with related units, already open on the
    attached source (source/shared.py); the unit reads inside it and leaves it open. `rows_filter`:
    only the unit's rows that match it (a purge batch, read under its locks). `parallel`: a large
    PostgreSQL unit reads key ranges on more connections in its snapshot (extract/ranges.py)."""
    if connection is not None:
        yield from _read(connection, source, table, unit, batch_rows, clustered, scale_floor or {}, rows_filter)
        return
    with contextlib.ExitStack() as stack:
        try:
            con = stack.enter_context(duck.POOL.connection((source.type,)))
        except duck.SourceError as exc:
            raise ExtractError(str(exc)) from None
        yield from _snapshot(con, source, root, table, unit, batch_rows=batch_rows, memory_limit=memory_limit,
                             threads=threads, shared_snapshot=shared_snapshot, clustered=clustered,
                             scale_floor=scale_floor or {}, parallel=parallel)


def _snapshot(con: duckdb.DuckDBPyConnection, source: Source, root: Path, table: Table, unit: ExportUnit, *,
              batch_rows: int, memory_limit: str, threads: int, shared_snapshot: str | None, clustered: bool,
              scale_floor: dict[str, int], parallel: ParallelRead | None) -> Iterator[UnitSnapshot]:
    ranged: list[RangedRead] = []

    def split(reads: list[ColumnRead], scales: dict[str, int], rows: int, query: ExtractQuery):
        found = _ranged(con, source, root, table, unit, reads, scales, rows, query, parallel, batch_rows,
                        memory_limit)
        if found is not None:
            ranged.append(found[0])
            return found[1:]
        return None

    try:
        begin(con, source, root, memory_limit, threads, shared_snapshot)
        yield from _read(con, source, table, unit, batch_rows, clustered, scale_floor, split=split)
    finally:
        for read in ranged:
            read.close()
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")  # read-only: nothing to commit


def _ranged(con: duckdb.DuckDBPyConnection, source: Source, root: Path, table: Table, unit: ExportUnit,
            reads: list[ColumnRead], scales: dict[str, int], rows: int, query: ExtractQuery,
            parallel: ParallelRead | None, batch_rows: int,
            memory_limit: str) -> tuple[RangedRead, Iterator[pa.RecordBatch], pa.Schema] | None:
    """A large PostgreSQL unit's read as key ranges on more connections (same rows, same order), or
    None when the unit reads on its own connection."""
    key = table.primary_key[0]
    typed = {r.name: r.column.duck_type.upper() for r in reads}
    if parallel is None or parallel.connections < 2 or query.strategy != "native" or rows < parallel.min_rows \
            or len(table.primary_key) != 1 or typed.get(key) not in INTEGER_TYPES:
        return None
    bounds = split_bounds(con, quote_relation(table.relation, "postgres"), key, native_where(table, unit, reads))
    if bounds is None:
        return None
    queries = [build_query(source.type, table, unit, reads, scales, rows_filter=range_filter(key, lo, hi)).rows_sql
               for lo, hi in key_ranges(*bounds, parallel.connections)]
    ranged = RangedRead(source, root, export_snapshot(con), queries[1:], parallel.spool, batch_rows=batch_rows,
                        memory_limit=memory_limit)
    restore = stream_natively(con)  # a split read is native (checked above)
    first = con.execute(queries[0]).to_arrow_reader(batch_rows)
    return ranged, ranged.batches(_batches(first, restore)), first.schema


def begin(con: duckdb.DuckDBPyConnection, source: Source, root: Path, memory_limit: str, threads: int,
          shared_snapshot: str | None = None) -> None:
    """Attach the source read-only and open the transaction in which a unit (or a group of related
    units) reads: one source snapshot for counts, rows and bounds."""
    try:
        configure(con, memory_limit, threads)
        duck.attach(con, source, root)
        con.execute("BEGIN TRANSACTION")
        if shared_snapshot is not None:
            try:
                adopt(con, shared_snapshot)  # the run's snapshot: related tables as of one instant
            except duckdb.Error:
                # the exporting transaction is gone (its connection was reset): this unit still reads
                # one snapshot of its own, only the cross-table instant is lost
                con.execute("ROLLBACK")
                con.execute("BEGIN TRANSACTION")
    except duck.SourceError as exc:
        raise ExtractError(str(exc)) from None
    except duckdb.Error as exc:
        raise ExtractError(f"opening source '{source.name}' failed: {exc}") from None


def _read(con: duckdb.DuckDBPyConnection, source: Source, table: Table, unit: ExportUnit, batch_rows: int,
          clustered: bool, scale_floor: dict[str, int], rows_filter: RowsFilter | None = None,
          split: Callable | None = None) -> Iterator[UnitSnapshot]:
    """Inside an open transaction: the count (measuring `decimal` columns), then the rows (`split`:
    (batches, schema) of a read split over connections, or None to read on this one)."""
    try:
        reads = column_reads(con, source, table)
        counted = count_query(source.type, table, unit, reads, rows_filter=rows_filter)
        row = con.execute(counted.sql).fetchone()
        scales = _scales(reads, counted.measured, row[1:], scale_floor)
        query = build_query(source.type, table, unit, reads, scales, clustered=clustered, rows_filter=rows_filter)
        found = split(reads, scales, int(row[0]), query) if split is not None else None
        if found is None:
            restore = stream_natively(con) if query.strategy == "native" else None
            reader = con.execute(query.rows_sql).to_arrow_reader(batch_rows)
            found = _batches(reader, restore), reader.schema
        batches, schema = found
        if query.strategy == "clustered":
            batches = _in_key_order(batches, table.primary_key[0])
        yield UnitSnapshot(reads, scales, int(row[0]), query, batches, schema, con)
    except TypeRefused as exc:
        raise ExtractError(f"{table.location}: {table.qualified_name}: {exc}") from None
    except duck.SourceError as exc:
        raise ExtractError(str(exc)) from None
    except duckdb.Error as exc:
        raise ExtractError(f"reading {table.qualified_name} ({unit.period}) failed: {exc}") from None


def column_reads(con: duckdb.DuckDBPyConnection, source: Source, table: Table) -> list[ColumnRead]:
    """The columns the unit reads (PII `drop` columns never are) and the type rule of each."""
    dropped = {c.name for c in table.columns if c.pii == "drop"}
    columns = [c for c in source_columns(con, "src", source.type, table) if c.name not in dropped]
    missing = [k for k in (*table.primary_key, *table.cursor) if k not in {c.name for c in columns}]
    if missing:
        raise ExtractError(f"{table.location}: relation '{table.relation}' lacks column(s) {', '.join(missing)}")
    declared = {c.name: c.type for c in table.columns}
    return [ColumnRead(c, read_rule(source.type, c, declared.get(c.name), table.format)) for c in columns]


def _scales(reads: list[ColumnRead], measured: tuple[str, ...], values: tuple, floor: dict[str, int]) -> dict[str, int]:
    by_name = {r.name: r.column for r in reads}
    return {name: choose_scale(name, values[2 * i], values[2 * i + 1], declared_scale(by_name[name]), floor.get(name))
            for i, name in enumerate(measured)}


def _batches(reader: pa.RecordBatchReader, then: Callable[[], None] | None = None) -> Iterator[pa.RecordBatch]:
    """The read's batches; `then` runs once the last one was read (not after a failed read: the
    pool resets an instance it takes back)."""
    try:
        yield from reader
        if then is not None:
            then()
    except duckdb.Error as exc:
        raise ExtractError(f"reading rows failed: {exc}") from None


def _in_key_order(batches: Iterator[pa.RecordBatch], key: str) -> Iterator[pa.RecordBatch]:
    """The batches of a `clustered` read, each checked to continue strictly ascending keys."""
    last = None
    for batch in batches:
        values = batch.column(batch.schema.get_field_index(key))
        if batch.num_rows:
            ascending = pc.all(pc.greater(values.slice(1), values.slice(0, len(values) - 1))).as_py()
            if values.null_count or ascending is False or (last is not None and values[0].as_py() <= last):
                raise KeyOrderError(f"rows of the clustered read are not in {key} order")
            last = values[len(values) - 1].as_py()
        yield batch


@contextmanager
def shared_transaction(source: Source, root: Path, memory_limit: str = "1GB",
                       threads: int = 2) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction on one connection, in which related units read one after another: MySQL's
    InnoDB and SQLite keep one snapshot for a transaction, so the tables are read as of one instant."""
    with contextlib.ExitStack() as stack:
        try:
            con = stack.enter_context(duck.POOL.connection((source.type,)))
        except duck.SourceError as exc:
            raise ExtractError(str(exc)) from None
        try:
            begin(con, source, root, memory_limit, threads)
            yield con
        finally:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")


def keys_since(source: Source, root: Path, table: Table, since: datetime) -> pa.Table:
    """Keys of the rows whose cursor is at or after `since` (UTC), asked of the source; reconcile leaves
    these out: the archive cannot hold them before the next run."""
    with contextlib.ExitStack() as stack:
        con = stack.enter_context(duck.POOL.connection((source.type,)))
        try:
            duck.attach(con, source, root)
            first = next(c for c in source_columns(con, "src", source.type, table) if c.name == table.cursor[0])
            bound = bound_literal(since, first.is_naive_timestamp, table.timezone, False)
            keys = ", ".join(quote_ident(k) for k in table.primary_key)
            return con.execute(f"SELECT {keys} FROM {qualified('src', table.relation)} "
                               f"WHERE {cursor_expr(table.cursor, quote_ident)} >= {bound}").to_arrow_table()
        except duck.SourceError as exc:
            raise ExtractError(str(exc)) from None
        except duckdb.Error as exc:
            raise ExtractError(f"reading {table.qualified_name} failed: {exc}") from None

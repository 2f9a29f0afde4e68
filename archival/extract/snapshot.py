"""Open one unit's snapshot: a DuckDB transaction on the attached source in which the source-side
row count and the ordered rows are read. Rows stream as Arrow record batches, so memory is bounded
by the batch size, not by the table."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from archival.extract.query import ExtractQuery, SourceColumn, build_query
from archival.plan.units import ExportUnit
from archival.source import duck
from archival.source.probe import describe
from archival.source.shared import adopt
from archival.spec.model import Source, Table


class ExtractError(Exception):
    """Reading the source failed; the unit publishes nothing."""


class KeyOrderError(Exception):
    """A `clustered` read met a key not above the one before: the unit must read again, sorted."""


@dataclass
class UnitSnapshot:
    columns: list[SourceColumn]  # what is read, in order (PII `drop` columns are never read)
    source_row_count: int
    query: ExtractQuery
    batches: Iterator[pa.RecordBatch]
    arrow_schema: pa.Schema
    connection: duckdb.DuckDBPyConnection | None = None  # the unit's transaction, for more questions

    def count_all(self, source_type: str, relation: str) -> int:
        """Rows of the whole relation in this snapshot (PostgreSQL counts natively)."""
        assert self.connection is not None
        if source_type == "postgres":
            native = "SELECT count(*) FROM " + ".".join(f'"{p}"' for p in relation.split("."))
            sql = f"SELECT * FROM postgres_query('src', {duck.sql_literal(native)})"
        else:
            sql = f"SELECT count(*) FROM {duck.qualified('src', relation)}"
        return int(self.connection.execute(sql).fetchone()[0])

    def all_keys(self, relation: str, key: tuple[str, ...]) -> pa.Table:
        assert self.connection is not None
        cols = ", ".join(duck.quote_ident(k) for k in key)
        return self.connection.execute(f"SELECT {cols} FROM {duck.qualified('src', relation)}").to_arrow_table()


def source_columns(con: duckdb.DuckDBPyConnection, source: Source, table: Table) -> list[SourceColumn]:
    described = describe(con, "src", table)
    native: dict[str, str] = {}
    if source.type == "postgres":
        schema, _, name = table.relation.rpartition(".")
        sql = ("SELECT column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns "
               f"WHERE table_schema = {duck.sql_literal(schema or 'public')} AND table_name = {duck.sql_literal(name)}")
        rows = con.execute(f"SELECT * FROM postgres_query('src', {duck.sql_literal(sql)})").fetchall()
        # information_schema says `numeric` for numeric(12,2) too: only a missing precision means unconstrained
        native = {c: (f"numeric({p},{sc})" if t == "numeric" and p is not None else t) for c, t, p, sc in rows}
    return [SourceColumn(c.name, c.type, native.get(c.name)) for c in described]


def configure(con: duckdb.DuckDBPyConnection, memory_limit: str, threads: int) -> None:
    # sorts by primary key spill (to the instance's folder, duck.spill_root()) instead of growing memory
    con.execute(f"SET memory_limit = {duck.sql_literal(memory_limit)}")
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET preserve_insertion_order = true")


@contextmanager
def open_snapshot(source: Source, root: Path, table: Table, unit: ExportUnit, *, batch_rows: int,
                  memory_limit: str = "1GB", threads: int = 2,
                  shared_snapshot: str | None = None, clustered: bool = False) -> Iterator[UnitSnapshot]:
    with contextlib.ExitStack() as stack:
        try:
            con = stack.enter_context(duck.POOL.connection((source.type,)))
        except duck.SourceError as exc:
            raise ExtractError(str(exc)) from None
        yield from _snapshot(con, source, root, table, unit, batch_rows=batch_rows, memory_limit=memory_limit,
                             threads=threads, shared_snapshot=shared_snapshot, clustered=clustered)


def _snapshot(con: duckdb.DuckDBPyConnection, source: Source, root: Path, table: Table, unit: ExportUnit, *,
              batch_rows: int, memory_limit: str, threads: int,
              shared_snapshot: str | None, clustered: bool) -> Iterator[UnitSnapshot]:
    try:
        configure(con, memory_limit, threads)
        duck.attach(con, source, root)
        con.execute("BEGIN TRANSACTION")  # one source snapshot for counts, rows and bounds
        if shared_snapshot is not None:
            try:
                adopt(con, shared_snapshot)  # the run's snapshot: related tables as of one instant
            except duckdb.Error:
                # the exporting transaction is gone (its connection was reset): this unit still reads
                # one snapshot of its own, only the cross-table instant is lost
                con.execute("ROLLBACK")
                con.execute("BEGIN TRANSACTION")
        dropped = {c.name for c in table.columns if c.pii == "drop"}
        columns = [c for c in source_columns(con, source, table) if c.name not in dropped]
        missing = [k for k in (*table.primary_key, *table.cursor) if k not in {c.name for c in columns}]
        if missing:
            raise ExtractError(f"{table.location}: relation '{table.relation}' lacks column(s) {', '.join(missing)}")
        query = build_query(source.type, table, unit, columns, clustered=clustered)
        count = int(con.execute(query.count_sql).fetchone()[0])
        reader = con.execute(query.rows_sql).to_arrow_reader(batch_rows)
        batches = _batches(reader)
        if query.strategy == "clustered":
            batches = _in_key_order(batches, table.primary_key[0])
        yield UnitSnapshot(columns, count, query, batches, reader.schema, con)
    except duck.SourceError as exc:
        raise ExtractError(str(exc)) from None
    except duckdb.Error as exc:
        raise ExtractError(f"reading {table.qualified_name} ({unit.period}) failed: {exc}") from None
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")  # read-only: nothing to commit


def _batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader
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

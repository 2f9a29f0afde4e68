"""The `replace` stage of a refresh (plan/refresh.py): the period is written anew from the source's
rows, which pass through unchanged (after the contract and the PII rules, like any export), followed
by the archived versions (primary key, cursor value) that no source row replaced: older versions of
an incremental key, rows deleted from the app. So a refresh corrects what changed without moving
the cursor (NocoDB nulls a link column when its parent is deleted) and never loses history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from archival.archive.read import ArchivedFile, rows_sql
from archival.source.cursor import cursor_expr
from archival.source.duck import local_connection
from archival.spec.model import Table
from archival.sql import quote_ident, sql_literal


class ArchivedColumnsLost(Exception):
    """The archived rows hold columns the refreshed period would not (nothing is published)."""


class VersionReplace:
    name = "replace"

    def __init__(self, table: Table, schema: pa.Schema, data: list[ArchivedFile], work: Path,
                 batch_rows: int = 65_536, threads: int = 2):
        """`schema`: of the rows this stage receives (after PII); `data`: the period's current files."""
        self.table, self.schema, self.data, self.batch_rows = table, schema, data, batch_rows
        self.keys = ", ".join(quote_ident(k) for k in table.primary_key)
        self.con = local_connection()
        self.con.execute(f"SET threads = {int(threads)}")
        self.con.execute(f"SET temp_directory = {sql_literal(str(work / 'replace-spill'))}")
        self.has_fresh = False
        self.carried = 0  # archived rows written again: versions the source no longer has

    def feed(self, batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
        if batch.num_rows:
            self.con.register("fresh_batch", batch)
            select = f"SELECT {self.keys}, {cursor_expr(self.table.cursor, quote_ident)} AS __cursor FROM fresh_batch"
            self.con.execute(f"INSERT INTO fresh {select}" if self.has_fresh else f"CREATE TABLE fresh AS {select}")
            self.con.unregister("fresh_batch")
            self.has_fresh = True
        yield batch

    def finish(self) -> Iterator[pa.RecordBatch]:
        if not self.data:
            return
        read = rows_sql(self.data, con=self.con)
        columns = [d[0] for d in self.con.execute(f"SELECT * FROM ({read}) LIMIT 0").description]
        lost = [c for c in columns if c not in self.schema.names]
        if lost:
            raise ArchivedColumnsLost(
                f"{self.table.location}: the archived rows of this period hold column(s) {', '.join(lost)} that the "
                "source no longer has: a refresh would drop them; nothing was published")
        # columns the source gained since: NULL of their own type, made in Arrow (DuckDB's untyped NULL
        # arrives as int32, which no cast turns into a list or a struct)
        present = [f.name for f in self.schema if f.name in columns]
        projection = ", ".join(f"a.{quote_ident(name)}" for name in present)
        archived = f"({rows_sql(self.data, con=self.con)}) a"
        if self.has_fresh:
            on = " AND ".join(f"a.{quote_ident(k)} = f.{quote_ident(k)}" for k in self.table.primary_key)
            cursor = cursor_expr(self.table.cursor, lambda n: f"a.{quote_ident(n)}")
            archived += f" ANTI JOIN fresh f ON {on} AND f.__cursor IS NOT DISTINCT FROM {cursor}"
        order = ", ".join(f"a.{quote_ident(k)}" for k in self.table.primary_key)
        reader = self.con.execute(f"SELECT {projection} FROM {archived} ORDER BY {order}").to_arrow_reader(
            self.batch_rows)
        for read_batch in reader:
            batch = pa.RecordBatch.from_arrays(
                [read_batch.column(f.name) if f.name in present else pa.nulls(read_batch.num_rows, f.type)
                 for f in self.schema], names=self.schema.names)
            try:
                kept = batch.cast(self.schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ArchivedColumnsLost(f"{self.table.location}: archived rows of this period do not fit the "
                                          f"source's current types ({exc}); nothing was published") from None
            self.carried += kept.num_rows
            yield kept

    def close(self) -> None:
        self.con.close()

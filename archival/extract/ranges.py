"""Parallel reads inside one snapshot (PostgreSQL), as `pg_dump -j` does it: a large unit keyed by one
integer column is split into N key ranges; the unit's own connection reads the first, and N-1 more
connections, each in a transaction that adopts the unit's exported snapshot (SET TRANSACTION
SNAPSHOT), read the others at the same time into spool files (Arrow IPC, LZ4) in the unit's work
folder. The unit then takes the ranges in key order: the same rows in the same order as one
connection reads them, so the files are byte-identical (the part writer cuts row groups by row count,
not by batch).

Memory stays bounded by the batch size: what the other connections read waits on disk, not in memory.
A connection that cannot adopt the snapshot fails the unit (it would read another instant)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from archival.extract.query import RowsFilter
from archival.extract.session import ExtractError, configure
from archival.source import duck
from archival.source.shared import adopt
from archival.spec.model import Source
from archival.sql import quote_ident, sql_literal

INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
                 "HUGEINT")


@dataclass(frozen=True)
class ParallelRead:
    """How a unit may split its read: `connections` in all (1: never), for units of `min_rows` or more."""

    connections: int
    min_rows: int
    spool: Path  # the unit's work folder for the ranges' spool files


def key_ranges(lowest: int, highest: int, n: int) -> list[tuple[int | None, int | None]]:
    """[lo, hi) bounds that cover every key from `lowest` to `highest` in `n` ranges of equal width
    (None: unbounded on that side). Equal widths, not equal counts: the bounds cost two index lookups."""
    width = highest - lowest + 1
    cuts = sorted({lowest + width * i // n for i in range(1, n)} - {lowest})
    bounds = [None, *cuts, None]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def range_filter(key: str, lo: int | None, hi: int | None) -> RowsFilter:
    native = " AND ".join([*([f"{quote_ident(key, 'postgres')} >= {lo}"] if lo is not None else []),
                           *([f"{quote_ident(key, 'postgres')} < {hi}"] if hi is not None else [])]) or "true"
    return RowsFilter(native=native, duck=native.replace(quote_ident(key, "postgres"), quote_ident(key)))


def export_snapshot(con: duckdb.DuckDBPyConnection) -> str:
    """The id other transactions adopt to see what this one sees (valid while it stays open)."""
    return con.execute("SELECT * FROM postgres_query('src', 'SELECT pg_export_snapshot()')").fetchone()[0]


class RangedRead:
    """The other ranges, read on their own connections while the first streams; `batches` yields all
    of them in key order. close() stops and joins the readers and removes their spool files."""

    def __init__(self, source: Source, root: Path, snapshot_id: str, queries: list[str], spool: Path, *,
                 batch_rows: int, memory_limit: str):
        self.source, self.root, self.snapshot_id = source, root, snapshot_id
        self.batch_rows, self.memory_limit = batch_rows, memory_limit
        spool.mkdir(parents=True, exist_ok=True)
        self.paths = [spool / f"range-{i + 1:03d}.arrows" for i in range(len(queries))]
        self._connections: list[duckdb.DuckDBPyConnection] = []
        self._stopped = False
        self._pool = ThreadPoolExecutor(max(len(queries), 1), thread_name_prefix="archival-range")
        self._futures: list[Future] = [self._pool.submit(self._read, q, p) for q, p in zip(queries, self.paths,
                                                                                           strict=True)]

    def batches(self, first: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        yield from first
        for future, path in zip(self._futures, self.paths, strict=True):
            future.result()  # a reader's error is the unit's
            with pa.memory_map(str(path)) as mapped:
                yield from pa.ipc.open_stream(mapped)
            path.unlink()

    def _read(self, query: str, path: Path) -> None:
        with duck.POOL.connection(("postgres",)) as con:
            self._connections.append(con)
            try:
                if self._stopped:
                    return
                configure(con, self.memory_limit, 1)
                duck.attach(con, self.source, self.root)
                con.execute("BEGIN TRANSACTION")
                try:
                    adopt(con, self.snapshot_id)
                except duckdb.Error as exc:
                    raise ExtractError(f"a parallel reader of source '{self.source.name}' could not adopt the "
                                       f"unit's snapshot ({str(exc).splitlines()[0]}); read again") from None
                reader = con.execute(query).to_arrow_reader(self.batch_rows)
                options = pa.ipc.IpcWriteOptions(compression="lz4")
                with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, reader.schema, options=options) as out:
                    for batch in reader:
                        out.write_batch(batch)
            except duck.SourceError as exc:
                raise ExtractError(str(exc)) from None
            except duckdb.Error as exc:
                raise ExtractError(f"a parallel reader of source '{self.source.name}' failed: {exc}") from None
            finally:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                self._connections.remove(con)

    def close(self) -> None:
        self._stopped = True
        for con in list(self._connections):
            with contextlib.suppress(duckdb.Error):  # an interrupt of a finished query is not an error
                con.interrupt()
        self._pool.shutdown(wait=True)
        for path in self.paths:
            path.unlink(missing_ok=True)


def split_bounds(con: duckdb.DuckDBPyConnection, relation: str, key: str, where_native: str) -> tuple[int, int] | None:
    """The unit's lowest and highest key in its snapshot (two index lookups), or None when it has none."""
    native = (f"SELECT min({quote_ident(key, 'postgres')})::text, max({quote_ident(key, 'postgres')})::text "
              f"FROM {relation}{where_native}")
    lo, hi = con.execute(f"SELECT * FROM postgres_query('src', {sql_literal(native)})").fetchone()
    return None if lo is None else (int(lo), int(hi))

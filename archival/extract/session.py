"""What every connection that reads a unit shares: how it is set up, and the error a failed read
raises (the unit's own connection in extract/snapshot.py, and the range readers in extract/ranges.py)."""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from archival.sql import sql_literal


class ExtractError(Exception):
    """Reading the source failed; the unit publishes nothing."""


def configure(con: duckdb.DuckDBPyConnection, memory_limit: str, threads: int) -> None:
    # sorts by primary key spill (to the instance's folder, duck.spill_root()) instead of growing memory
    con.execute(f"SET memory_limit = {sql_literal(memory_limit)}")
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET preserve_insertion_order = true")


def stream_natively(con: duckdb.DuckDBPyConnection) -> Callable[[], None]:
    """Before a `native` read (postgres_query(): one connection streaming rows PostgreSQL orders):
    one DuckDB thread. The stream has nothing to split, and a second thread only waits for it at a
    cost: 5M rows took 3.5 CPU-s in this process with two threads, 2.2 with one, in the same wall
    time (docs/performance.md). Returns what puts the instance's threads back once the rows are read
    (later queries of the unit, such as the hard-delete check's key scan, keep them)."""
    threads = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
    con.execute("SET threads = 1")
    return lambda: con.execute(f"SET threads = {threads}")

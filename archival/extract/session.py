"""What every connection that reads a unit shares: how it is set up, and the error a failed read
raises (the unit's own connection in extract/snapshot.py, and the range readers in extract/ranges.py)."""

from __future__ import annotations

import duckdb

from archival.sql import sql_literal


class ExtractError(Exception):
    """Reading the source failed; the unit publishes nothing."""


def configure(con: duckdb.DuckDBPyConnection, memory_limit: str, threads: int) -> None:
    # sorts by primary key spill (to the instance's folder, duck.spill_root()) instead of growing memory
    con.execute(f"SET memory_limit = {sql_literal(memory_limit)}")
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET preserve_insertion_order = true")

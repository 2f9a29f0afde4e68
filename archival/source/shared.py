"""One PostgreSQL snapshot for all units of a run. A coordinator transaction exports it
(pg_export_snapshot) and stays open while the run lasts; every unit's transaction adopts it with
SET TRANSACTION SNAPSHOT, so related tables are read as of one instant (no orphan references the
source did not have) and a retried unit reads exactly the rows of its first attempt.

The cost is one open REPEATABLE READ transaction per PostgreSQL source while a run lasts, which
holds back VACUUM on that database for as long: runs are batch jobs of minutes, not hours."""

from __future__ import annotations

import contextlib
from pathlib import Path

import duckdb

from archival.source import duck
from archival.spec.model import Source
from archival.sql import sql_literal


class SharedSnapshot:
    def __init__(self, source: Source, root: Path):
        self.source = source
        self._pooled = duck.POOL.connection(("postgres",))
        self.con = self._pooled.__enter__()
        try:
            duck.attach(self.con, source, root)
            self.con.execute("BEGIN TRANSACTION")
            self.id: str = self.con.execute(
                "SELECT * FROM postgres_query('src', 'SELECT pg_export_snapshot()')").fetchone()[0]
        except (duck.SourceError, duckdb.Error) as exc:
            self._pooled.__exit__(type(exc), exc, exc.__traceback__)  # a failed holder's instance is closed
            raise

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.execute("ROLLBACK")
        self._pooled.__exit__(None, None, None)  # reset (DETACH: the PostgreSQL session ends) and pooled


def adopt(con: duckdb.DuckDBPyConnection, snapshot_id: str) -> None:
    """Must run first in the unit's transaction, before PostgreSQL sees any other query."""
    statement = f"SET TRANSACTION SNAPSHOT {sql_literal(snapshot_id)}"
    con.execute(f"CALL postgres_execute('src', {sql_literal(statement)})")


def open_shared(sources: list[Source], root: Path) -> tuple[dict[str, SharedSnapshot], list[str]]:
    """Shared snapshots for the PostgreSQL sources; problems are reported, and their units fall back
    to one snapshot each."""
    shared, problems = {}, []
    for source in sources:
        if source.type != "postgres":
            continue
        try:
            shared[source.name] = SharedSnapshot(source, root)
        except (duck.SourceError, duckdb.Error) as exc:
            problems.append(f"source '{source.name}': no shared snapshot ({exc}); units read one snapshot each")
    return shared, problems

"""The purge credential's connection to one source: a DuckDB of its own with the source attached
read-write as `src` (the export attaches read-only, with its own credential). A batch runs in one
transaction: lock its rows, read them again as the export reads them, delete the equal ones, commit.
DuckDB's reads and DELETE run in that source transaction (with postgres_execute/postgres_query;
MySQL: mysql_execute, not mysql_query, which has a connection of its own). How rows are held:
- PostgreSQL: DuckDB's transactions there are REPEATABLE READ, so the read and the DELETE see one
  snapshot and a row another transaction changed after it fails the DELETE ("could not serialize");
  a row locked by another transaction makes the DELETE wait up to lock_timeout. Either way the batch
  rolls back and waits for a later run. (SELECT ... FOR UPDATE would need UPDATE on the table; the
  purge role needs only SELECT and DELETE.)
- MySQL/MariaDB: SELECT ... FOR UPDATE first (InnoDB's consistent read would not see a later change).
- SQLite: no row locks; the transaction's read lock then its write lock make a concurrent write
  either wait or fail the batch."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import duckdb
import pyarrow as pa

from archival.purge.keys import predicate
from archival.purge.references import Reference
from archival.source import duck
from archival.spec.model import Purge, Source, Table
from archival.sql import qualified, quote_ident, quote_relation, sql_literal

# what a source says when a batch's rows stayed locked or changed under it (the batch waits for a later run)
_BUSY = ("lock timeout", "could not serialize", "deadlock", "lock wait timeout", "database is locked",
         "could not obtain lock", "busy")


class PurgeRefused(Exception):
    """A purge that must not start: no purge credential, or it may not DELETE (nothing was changed)."""


class BatchBusy(Exception):
    """A batch's rows stayed locked past lock_timeout or changed under it: kept for a later run."""


class PurgeStatementFailed(Exception):
    """A statement of a batch failed for another reason (the batch was rolled back; the purge stops)."""


def _first_line(exc: BaseException) -> str:
    """The source's message, short: a statement's text (hundreds of keys) is left out."""
    line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "Failed to execute query" in line and ": ERROR:" in line:
        line = "ERROR:" + line.rsplit(": ERROR:", 1)[1]
    return line if len(line) <= 240 else line[:240] + "..."


def _busy(exc: duckdb.Error) -> bool:
    return any(word in str(exc).lower() for word in _BUSY)


class PurgeSession:
    def __init__(self, source: Source, root: Path):
        self.source, self.root = source, root
        if source.type != "sqlite" and source.purge_dsn is None:
            raise PurgeRefused(f"source '{source.name}' declares no purge_dsn: the export's dsn stays read-only, "
                               "so nothing can be purged (docs/purge.md)")
        purger = source if source.type == "sqlite" else replace(source, dsn=source.purge_dsn)
        self.con = duck.connect((source.type,))
        self.con.execute("SET threads = 2")
        try:
            duck.attach(self.con, purger, root, "src", read_only=False)
        except duck.SourceError as exc:
            self.con.close()
            raise PurgeRefused(f"purge credential: {exc}") from None
        self.mariadb = source.type == "mysql" and "mariadb" in str(self.con.execute(
            "SELECT * FROM mysql_query('src', 'SELECT VERSION()')").fetchone()[0]).lower()

    def close(self) -> None:
        self.con.close()

    def _native(self, sql: str) -> None:
        self.con.execute(f"CALL {self.source.type}_execute('src', {sql_literal(sql)})")

    def check_delete_right(self, table: Table) -> None:
        """PurgeRefused unless the purge credential may DELETE from the table (asked with a DELETE that
        matches nothing, rolled back)."""
        if self.source.type == "sqlite":
            path = (self.root / self.source.path).resolve()  # type: ignore[operator]
            if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
                raise PurgeRefused(f"{table.qualified_name}: sqlite database {self.source.path} (or its folder) is "
                                   "not writable: nothing can be purged")
            return
        self.con.execute("BEGIN")
        try:
            self._native(f"DELETE FROM {quote_relation(table.relation, self.source.type)} WHERE 1 = 0")
        except duckdb.Error as exc:
            raise PurgeRefused(f"{table.qualified_name}: the purge credential of source '{self.source.name}' may not "
                               f"DELETE from {table.relation} ({_first_line(exc)}); grant it DELETE "
                               "there (docs/purge.md)") from None
        finally:
            with contextlib.suppress(duckdb.Error):
                self.con.execute("ROLLBACK")

    @contextlib.contextmanager
    def transaction(self, purge: Purge) -> Iterator[None]:
        """One batch: committed when the block ends, rolled back when it raises. BatchBusy when the
        source reports a lock timeout, a serialization failure or a deadlock."""
        self.con.execute("BEGIN")
        try:
            self._timeouts(purge)
            yield
            self.con.execute("COMMIT")
        except BaseException as exc:
            # the source may have ended the transaction already; the error that got here is the one to report
            with contextlib.suppress(duckdb.Error):
                self.con.execute("ROLLBACK")
            if isinstance(exc, duckdb.Error):
                if _busy(exc):
                    raise BatchBusy(_first_line(exc)) from None
                raise PurgeStatementFailed(f"source '{self.source.name}': {_first_line(exc)}; the batch was "
                                           "rolled back") from None
            raise

    def _timeouts(self, purge: Purge) -> None:
        lock_s, statement_s = max(1, purge.lock_timeout.seconds), max(1, purge.statement_timeout.seconds)
        if self.source.type == "postgres":
            self._native(f"SET LOCAL lock_timeout = '{lock_s}s'")
            self._native(f"SET LOCAL statement_timeout = '{statement_s}s'")
        elif self.source.type == "mysql":
            self._native(f"SET SESSION innodb_lock_wait_timeout = {lock_s}")
            self._native(f"SET SESSION max_statement_time = {statement_s}" if self.mariadb
                         else f"SET SESSION max_execution_time = {statement_s * 1000}")

    def lock(self, table: Table, rows: list[tuple]) -> None:
        """Lock the batch's rows until the transaction ends (MySQL; see the module's docstring for the others)."""
        if self.source.type != "mysql":
            return
        where = predicate(table.primary_key, rows, "mysql")
        self._native(f"SELECT 1 FROM {quote_relation(table.relation, 'mysql')} WHERE {where} FOR UPDATE")

    def delete(self, table: Table, rows: list[tuple]) -> int:
        """Delete the rows (which this transaction has read); how many it deleted. PostgreSQL and
        MySQL delete natively (DuckDB's connectors take only simple predicates, not a composite key's
        OR of ANDs) and report no count: there it is the rows read minus the rows left."""
        if self.source.type == "sqlite":
            where = predicate(table.primary_key, rows, "duckdb")
            return int(self.con.execute(f"DELETE FROM {qualified('src', table.relation)} WHERE {where}").fetchone()[0])
        dialect = "postgres" if self.source.type == "postgres" else "mysql"
        self._native(f"DELETE FROM {quote_relation(table.relation, dialect)} WHERE "
                     f"{predicate(table.primary_key, rows, dialect)}")
        return len(rows) - self.present(table, rows)

    def present(self, table: Table, rows: list[tuple]) -> int:
        """How many of these keys the source holds, as this transaction sees it. PostgreSQL asks
        natively: DuckDB may scan a big table in parallel on other connections that share the
        transaction's snapshot but not its own changes."""
        if self.source.type == "postgres":
            native = (f"SELECT count(*) FROM {quote_relation(table.relation, 'postgres')} WHERE "
                      f"{predicate(table.primary_key, rows, 'postgres')}")
            return int(self.con.execute(f"SELECT * FROM postgres_query('src', {sql_literal(native)})").fetchone()[0])
        where = predicate(table.primary_key, rows, "duckdb")
        return int(self.con.execute(f"SELECT count(*) FROM {qualified('src', table.relation)} WHERE {where}")
                   .fetchone()[0])

    def referenced(self, table: Table, ref: Reference, rows: list[tuple], gone: pa.Table | None) -> set[tuple]:
        """Keys of the batch's rows that a row of `ref.child` still refers to. `gone`: keys of that
        child's rows this purge takes out (deleted already, or to be, in a dry run): left out."""
        keys = ", ".join(quote_ident(k) for k in table.primary_key)
        values = self.con.execute(f"SELECT {keys}, {quote_ident(ref.parent_column)} FROM "
                                  f"{qualified('src', table.relation)} WHERE "
                                  f"{predicate(table.primary_key, rows, 'duckdb')}").fetchall()
        wanted = sorted({(v[-1],) for v in values if v[-1] is not None})
        if not wanted:
            return set()
        column = quote_ident(ref.column)
        child_key = list(gone.column_names) if gone is not None else []
        picked = ", ".join([column, *(quote_ident(k) for k in child_key if k != ref.column)])
        sql = (f"SELECT {picked} FROM {qualified('src', ref.child)} WHERE "
               f"{predicate((ref.column,), wanted, 'duckdb')}")
        if gone is not None and gone.num_rows:
            self.con.register("purge_gone", gone)
            sql = f"SELECT * FROM ({sql}) ANTI JOIN purge_gone USING ({', '.join(quote_ident(k) for k in child_key)})"
        try:
            referred = {r[0] for r in self.con.execute(f"SELECT DISTINCT {column} FROM ({sql})").fetchall()}
        finally:
            if gone is not None and gone.num_rows:
                self.con.unregister("purge_gone")
        return {tuple(v[:-1]) for v in values if v[-1] in referred}

    def replica_lag(self) -> float:
        """PostgreSQL: the largest replay lag of a streaming replica, in seconds (0 without one)."""
        sql = "SELECT coalesce(max(extract(epoch FROM replay_lag)), 0)::float8 FROM pg_stat_replication"
        return float(self.con.execute(f"SELECT * FROM postgres_query('src', {sql_literal(sql)})").fetchone()[0])

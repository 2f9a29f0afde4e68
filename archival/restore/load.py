"""`archival restore`: a table's archived rows (current, as of an instant, some periods, or every
version) into a PostgreSQL, MySQL/MariaDB or SQLite database, verified before it counts.

The rows come through the one archive reader (archive/rows.py) after every file they are read from
has been checked against its manifest's sha256 (a damaged file stops the restore, named, before
anything is written). The load runs in one transaction on PostgreSQL and SQLite; MySQL commits DDL
on its own, so there the rows go to a staging table first and are renamed (or copied, for
`append`) into place once verified. Verified means: the row fingerprint of what the target table now
holds (read back through DuckDB, cast to the archive's types) equals that of the archived rows."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import duckdb

from archival.archive.read import ArchiveReader
from archival.archive.rows import TableRows, check_files, check_readable, table_rows
from archival.archive.store import ArchiveStore
from archival.checksums import fingerprint_sql
from archival.record import audit
from archival.record.anchor import record_head
from archival.record.initiator import who
from archival.restore.ddl import TargetColumn, create_sql, target_columns
from archival.restore.target import RestoreTarget
from archival.source import duck
from archival.spec.model import Project, Table
from archival.sql import quote_ident, sql_literal

IfExists = Literal["fail", "append", "replace"]


class RestoreUsage(ValueError):
    """A restore asked for something that cannot be (exit 2): nothing was written."""


class RestoreFailed(Exception):
    """The restore did not verify or could not be written (exit 1): the target is unchanged."""


@dataclass(frozen=True)
class RestoreRequest:
    periods: tuple[str, ...] = ()
    as_of: datetime | None = None
    all_versions: bool = False
    if_exists: IfExists = "fail"
    dry_run: bool = False
    name: str | None = None  # the target table, [schema.]name; default: the spec's table name


@dataclass
class RestoreReport:
    table: str
    target: str
    rows: int
    ddl: str
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False


@dataclass(frozen=True)
class _Names:
    """The target table as DuckDB names it (through the attachment) and as the engine's DDL does."""

    duck: str
    native: str
    shown: str


def _names(target: RestoreTarget, name: str) -> _Names:
    parts = name.split(".")
    if target.engine == "postgres":
        schema, table = (parts[0], parts[1]) if len(parts) == 2 else ("public", parts[-1])
        return _Names(f"dst.{quote_ident(schema)}.{quote_ident(table)}",
                      f"{quote_ident(schema, 'postgres')}.{quote_ident(table, 'postgres')}", f"{schema}.{table}")
    if len(parts) > 1:
        raise RestoreUsage(f"--table {name}: a {target.engine} target takes a table name without a schema")
    native = quote_ident(name, "mysql") if target.engine == "mysql" else f"dst.{quote_ident(name)}"
    return _Names(f"dst.{quote_ident(name)}", native, name)


def _execute(con: duckdb.DuckDBPyConnection, target: RestoreTarget, sql: str) -> None:
    """DDL in the target's own dialect (SQLite: DuckDB's, through the attachment)."""
    if target.engine == "sqlite":
        con.execute(sql)
        return
    function = "postgres_execute" if target.engine == "postgres" else "mysql_execute"
    con.execute(f"CALL {function}('dst', {sql_literal(sql)})")
    con.execute("CALL pg_clear_cache()" if target.engine == "postgres" else "CALL mysql_clear_cache()")


def _exists(con: duckdb.DuckDBPyConnection, names: _Names) -> bool:
    try:
        con.execute(f"SELECT 1 FROM {names.duck} LIMIT 0")
    except duckdb.CatalogException:
        return False
    return True


def _fingerprint(con: duckdb.DuckDBPyConnection, relation: str, columns: list[TargetColumn]) -> tuple[int, int, int]:
    cast = ", ".join(f"CAST({quote_ident(c.name)} AS {c.archived}) AS {quote_ident(c.name)}"
                     for c in columns if c.archived)
    upper, lower, rows = con.execute(fingerprint_sql(f"(SELECT {cast} FROM {relation})")).fetchone()
    return int(upper), int(lower), int(rows)


@contextmanager
def _named(target: RestoreTarget) -> Iterator[None]:
    """A database error ends the restore in one line that names the target (never its DSN)."""
    try:
        yield
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0].removeprefix("Error: ")
        raise RestoreFailed(f"{target.label}: {first}; nothing was kept") from exc


def _known_types(con: duckdb.DuckDBPyConnection, target: RestoreTarget, rows: TableRows) -> set[str] | None:
    """The source type names a PostgreSQL target knows (an enum or a domain of the app may not exist)."""
    if target.engine != "postgres":
        return None
    names = sorted({r.source_type for m in rows.manifests.values() for r in m.source_schema or [] if r.source_type})
    if not names:
        return set()
    probe = " UNION ALL ".join(f"SELECT {sql_literal(n, 'postgres')} AS t, to_regtype({sql_literal(n, 'postgres')}) "
                               "IS NOT NULL AS known" for n in names)
    return {t for t, known in con.execute(f"SELECT * FROM postgres_query('dst', {sql_literal(probe)})").fetchall()
            if known}


def restore_table(project: Project, store: ArchiveStore, table: Table, target: RestoreTarget,
                  request: RestoreRequest, check_only: bool = False) -> RestoreReport | None:
    """`check_only`: stop once the archive and the target are known to allow it (RestoreUsage if
    not), so a restore of several tables refuses before it writes any."""
    rows = table_rows(store, table.domain, table.name, table.primary_key, table.cursor, table.mode, request.as_of)
    when = f" as of {request.as_of.isoformat()}" if request.as_of else ""
    gone = sorted(set(request.periods) & set(rows.expired))
    if gone:
        expiry = rows.expired[gone[0]]
        raise RestoreUsage(f"{table.qualified_name}: period(s) {', '.join(gone)} expired on {expiry.at[:10]} under "
                           f"its retention ({expiry.policy}); their rows are no longer in the archive")
    if not rows.manifests:
        raise RestoreUsage(f"{table.qualified_name}: nothing is archived{when}"
                           + (f" (expired: {len(rows.expired)} period(s))" if rows.expired else ""))
    missing = sorted(set(request.periods) - set(rows.manifests))
    if missing:
        raise RestoreUsage(f"{table.qualified_name}: period(s) {', '.join(missing)} not archived{when}; archived: "
                           f"{', '.join(sorted(rows.manifests)[-12:])}")
    view = "versions" if request.all_versions else "current"
    check_readable(store, [p for p, _ in rows.files(view)], f"table:{table.qualified_name}")
    if not check_only:
        check_files(store, rows.files(view))
    with ExitStack() as stack, _named(target):
        reader = ArchiveReader(store, stack)
        con = stack.enter_context(duck.POOL.connection((target.engine,)))
        selection = rows.sql(reader, con, "versions" if request.all_versions else "current",
                             set(request.periods) or None)
        archived = rows.typed()
        if request.all_versions:
            selection = (f"SELECT * EXCLUDE (__period, __version), __period AS archival_period, "
                         f"__version AS archival_version FROM ({selection})")
            archived += [("archival_period", "VARCHAR"), ("archival_version", "INTEGER")]
        duck.attach(con, target.source, project.root, alias="dst", read_only=False)
        stack.callback(con.execute, "DETACH dst")
        latest = rows.manifests[max(rows.manifests)]
        columns = target_columns(target.engine, table, latest, archived, _known_types(con, target, rows))
        names = _names(target, request.name or table.name)
        exists = _exists(con, names)
        if exists and request.if_exists == "fail":
            raise RestoreUsage(f"{target.label}: table {names.shown} exists; restore with --if-exists replace or "
                               "append, or --table another name")
        if check_only:
            return None
        key = None if request.all_versions else table.primary_key
        ddl = create_sql(target.engine, names.native if target.native else names.duck, columns, key)
        report = RestoreReport(table.qualified_name, f"{names.shown} in the {target.label}", 0, ddl,
                               _notes(table, rows, columns, target, request), request.dry_run)
        if selection is None:
            raise RestoreUsage(f"{table.qualified_name}: the archived periods hold no files{when}")
        report.rows = con.execute(f"SELECT count(*) FROM ({selection})").fetchone()[0]
        if request.dry_run:
            return report
        expected = _fingerprint(con, f"({selection})", columns)
        load = _staged if target.engine == "mysql" else _transactional
        load(con, target, names, ddl, selection, columns, expected, exists, request.if_exists)
    # who restored what, where to (the target's kind and table, never its DSN), in the audit trail
    audit.append(store, {"action": "restore", "table": table.qualified_name, "to": f"{names.shown} ({target.engine})",
                         "rows": report.rows, "periods": list(request.periods), "all_versions": request.all_versions,
                         "as_of": request.as_of.isoformat() if request.as_of else None,
                         "if_exists": request.if_exists, "initiator": who(project.root),
                         "at": datetime.now(UTC).isoformat(timespec="seconds")})
    record_head(store, project.root, project.name)
    return report


def _notes(table: Table, rows: TableRows, columns: list[TargetColumn], target: RestoreTarget,
           request: RestoreRequest) -> list[str]:
    latest = rows.manifests[max(rows.manifests)]
    notes = [f"{c.name}: {c.note}" for c in columns if c.note]
    if latest.source.type != target.engine:
        notes.append(f"column types mapped from the archive's: the rows came from {latest.source.type}")
    elif not latest.source_schema:
        notes.append("column types from the archive's: its manifests predate recorded source types")
    if rows.expired and not request.periods:
        first, last = min(rows.expired), max(rows.expired)
        notes.append(f"{len(rows.expired)} period(s) expired under the retention ({first}..{last}, "
                     f"{sum(e.rows for e in rows.expired.values()):,} rows) are not restored")
    quarantined = sum(m.quarantined_rows for m in rows.manifests.values())
    if quarantined:
        notes.append(f"{quarantined} row(s) set aside in quarantine are not restored")
    if request.as_of:
        notes.append(f"as of {request.as_of.isoformat()}: each period as its runs up to then had archived it")
    return notes


def _verify(con: duckdb.DuckDBPyConnection, names: _Names, columns: list[TargetColumn],
            expected: tuple[int, int, int], before: tuple[int, int, int]) -> None:
    after = _fingerprint(con, names.duck, columns)
    loaded = tuple(a - b for a, b in zip(after, before, strict=True))
    if loaded != expected:
        raise RestoreFailed(f"{names.shown}: the rows read back ({loaded[2]}) do not match the archive's "
                            f"({expected[2]}) by fingerprint; nothing was kept")


def _transactional(con: duckdb.DuckDBPyConnection, target: RestoreTarget, names: _Names, ddl: str, selection: str,
                   columns: list[TargetColumn], expected: tuple[int, int, int], exists: bool, if_exists: str) -> None:
    con.execute("BEGIN")
    try:
        if exists and if_exists == "replace":
            _execute(con, target, f"DROP TABLE {names.native if target.native else names.duck}")
        if not exists or if_exists == "replace":
            _execute(con, target, ddl)
        before = _fingerprint(con, names.duck, columns) if exists and if_exists == "append" else (0, 0, 0)
        con.execute(f"INSERT INTO {names.duck} BY NAME SELECT * FROM ({selection})")
        _verify(con, names, columns, expected, before)
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # a lost connection rolls back by itself; keep the first error
            con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _staged(con: duckdb.DuckDBPyConnection, target: RestoreTarget, names: _Names, ddl: str, selection: str,
            columns: list[TargetColumn], expected: tuple[int, int, int], exists: bool, if_exists: str) -> None:
    """MySQL: DDL commits by itself, so a staging table takes the rows and is verified first."""
    stage = _names(target, f"{names.shown}__archival_restore")
    old = _names(target, f"{names.shown}__archival_replaced")
    _execute(con, target, f"DROP TABLE IF EXISTS {stage.native}")
    try:
        _execute(con, target, ddl.replace(f"CREATE TABLE {names.native} ", f"CREATE TABLE {stage.native} ", 1))
        con.execute(f"INSERT INTO {stage.duck} BY NAME SELECT * FROM ({selection})")
        _verify(con, stage, columns, expected, (0, 0, 0))
        if not exists:
            _execute(con, target, f"RENAME TABLE {stage.native} TO {names.native}")
        elif if_exists == "replace":
            _execute(con, target, f"RENAME TABLE {names.native} TO {old.native}, {stage.native} TO {names.native}")
            _execute(con, target, f"DROP TABLE {old.native}")
        else:
            before = _fingerprint(con, names.duck, columns)
            listed = ", ".join(quote_ident(c.name, "mysql") for c in columns if c.archived)
            _execute(con, target, f"INSERT INTO {names.native} ({listed}) SELECT {listed} FROM {stage.native}")
            _verify(con, names, columns, expected, before)
    finally:
        _execute(con, target, f"DROP TABLE IF EXISTS {stage.native}")

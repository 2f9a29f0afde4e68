"""`archival query`: a DuckDB database with a schema per domain and, per table:

    <domain>.<table>              the current rows (archive/rows.py: latest version per key, tombstones applied)
    <domain>.<table>__versions    every archived row version, with its __period and __version
    <domain>.<table>__as_of(ts)   a table macro: the rows as the archive held them at `ts`
    <domain>.<table>__files       which file was part of which period's current version, when

The views name exactly the files of the current manifests (the macro: of the versions current at
`ts`), so a stray file in a period folder changes nothing. An S3 archive is read where it is, through
DuckDB's httpfs extension and a temporary secret from the target's credentials (never written to a
.duckdb file). Views name files as they were when the views were made: make them again after a run."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa

from archival.archive.manifest import FileEntry, Manifest, read_manifest
from archival.archive.read import ArchivedFile, ArchiveReader, rows_sql
from archival.archive.rows import check_readable, run_times, table_rows, written_at
from archival.archive.state import manifest_versions
from archival.archive.store import ArchiveStore, LocalStore
from archival.archive.targets import s3_session
from archival.source.cursor import cursor_expr
from archival.spec.model import Project, Table, Target
from archival.sql import quote_ident, sql_literal


@dataclass(frozen=True)
class FileSpan:
    """A file, and from when until when it was part of its period's current version."""

    file: ArchivedFile
    period: str
    kind: str  # data | tombstone
    since: datetime
    until: datetime | None


def file_spans(store: ArchiveStore, reader: ArchiveReader, table: Table, runs: dict[str, datetime]) -> list[FileSpan]:
    spans: list[FileSpan] = []
    for period, versions in manifest_versions(store, table.domain, table.name).items():
        ordered = [read_manifest(store, versions[v]).manifest for v in sorted(versions)]
        if ordered[-1].expiry:
            continue  # retention ended it: its files are gone, at any instant
        times = [written_at(m, runs) for m in ordered]
        for kind in ("data", "tombstone"):
            first: dict[str, tuple[int, FileEntry, Manifest]] = {}
            last: dict[str, int] = {}
            for index, manifest in enumerate(ordered):
                for entry in manifest.files if kind == "data" else manifest.tombstones:
                    first.setdefault(entry.path, (index, entry, manifest))
                    last[entry.path] = index
            for path, (index, entry, manifest) in first.items():
                after = last[path] + 1
                fmt = manifest.format if kind == "data" else "parquet"
                columns = tuple(entry.columns or manifest.columns) if kind == "data" else ()
                file = reader.file(entry, fmt, columns)
                spans.append(FileSpan(file, period, kind, times[index], times[after] if after < len(times) else None))
    return spans


def _empty(columns: list[tuple[str, str]]) -> str:
    typed = ", ".join(f"CAST(NULL AS {kind}) AS {quote_ident(name)}" for name, kind in columns)
    return f"SELECT {typed} WHERE false"


def define_table(con: duckdb.DuckDBPyConnection, store: ArchiveStore, reader: ArchiveReader, table: Table,
                 runs: dict[str, datetime]) -> None:
    schema, name = quote_ident(table.domain), table.name
    rows = table_rows(store, table.domain, table.name, table.primary_key, table.cursor, table.mode)
    check_readable(store, [p for p, _ in rows.files("versions")], f"table:{table.qualified_name}")
    typed = rows.typed()
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    current = rows.sql(reader, con, "current") or _empty(typed)
    versions = rows.sql(reader, con, "versions") or _empty([*typed, ("__period", "VARCHAR"), ("__version", "INTEGER")])
    con.execute(f"CREATE OR REPLACE VIEW {schema}.{quote_ident(name)} AS {current}")
    con.execute(f"CREATE OR REPLACE VIEW {schema}.{quote_ident(name + '__versions')} AS {versions}")
    spans = file_spans(store, reader, table, runs)
    listing = pa.table({"file": [str(s.file.path) for s in spans], "period": [s.period for s in spans],
                        "kind": [s.kind for s in spans],
                        "since": pa.array([s.since for s in spans], pa.timestamp("us", tz="UTC")),
                        "until": pa.array([s.until for s in spans], pa.timestamp("us", tz="UTC"))})
    files = f"{schema}.{quote_ident(name + '__files')}"
    con.register("archival_file_spans", listing)
    con.execute(f"CREATE OR REPLACE TABLE {files} AS SELECT * FROM archival_file_spans")
    con.unregister("archival_file_spans")
    con.execute(f"CREATE OR REPLACE MACRO {schema}.{quote_ident(name + '__as_of')}(ts) AS TABLE "
                + _as_of_sql(con, table, spans, files, typed))


def _as_of_sql(con: duckdb.DuckDBPyConnection, table: Table, spans: list[FileSpan], files: str,
               typed: list[tuple[str, str]]) -> str:
    data = [s.file for s in spans if s.kind == "data"]
    if not data:
        return _empty(typed)
    projection = ", ".join(f"l.{quote_ident(n)}" for n, _ in typed)
    live = "f.since <= CAST(ts AS TIMESTAMPTZ) AND (f.until IS NULL OR f.until > CAST(ts AS TIMESTAMPTZ))"
    chosen = (f"SELECT r.* FROM ({rows_sql(data, filename=True, con=con)}) r JOIN {files} f ON r.filename = f.file "
              f"AND f.kind = 'data' AND {live}")
    if table.mode != "full":
        keys = ", ".join(quote_ident(k) for k in table.primary_key)
        chosen += (f" QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY "
                   f"{cursor_expr(table.cursor, quote_ident)} DESC NULLS LAST) = 1")
    sql = f"SELECT {projection} FROM ({chosen}) l"
    dead = [s.file for s in spans if s.kind == "tombstone"]
    if dead:
        on = " AND ".join(f"d.{quote_ident(k)} = l.{quote_ident(k)}" for k in table.primary_key)
        sql += (f" WHERE NOT EXISTS (SELECT 1 FROM ({rows_sql(dead, filename=True, con=con)}) d JOIN {files} f ON "
                f"d.filename = f.file AND f.kind = 'tombstone' AND {live} WHERE {on})")
    return sql


def s3_secret(con: duckdb.DuckDBPyConnection, target: Target) -> None:
    """A temporary DuckDB secret from the target's credentials (in memory only)."""
    frozen = s3_session(target).get_credentials()
    if frozen is None:
        raise duckdb.InvalidInputException(f"target '{target.name}': no AWS credentials were found")
    creds = frozen.get_frozen_credentials()
    options = [f"KEY_ID {sql_literal(creds.access_key)}", f"SECRET {sql_literal(creds.secret_key)}",
               f"REGION {sql_literal(target.region or 'us-east-1')}"]
    if creds.token:
        options.append(f"SESSION_TOKEN {sql_literal(creds.token)}")
    if target.endpoint_url:
        url = urlsplit(target.endpoint_url)
        options += [f"ENDPOINT {sql_literal(url.netloc)}", "URL_STYLE 'path'",
                    f"USE_SSL {'true' if url.scheme == 'https' else 'false'}"]
    con.execute(f"CREATE OR REPLACE TEMPORARY SECRET archival_s3 (TYPE s3, {', '.join(options)})")


def encrypted_files(store: ArchiveStore, tables: Iterable[Table]) -> int:
    """How many files the tables' manifests name as encrypted."""
    found = 0
    for table in tables:
        rows = table_rows(store, table.domain, table.name, table.primary_key, table.cursor, table.mode)
        found += sum(1 for versions in rows.history.values() for m in versions
                     for f in [*m.files, *m.tombstones] if f.key)
    return found


def define_views(con: duckdb.DuckDBPyConnection, project: Project, store: ArchiveStore, target: Target,
                 tables: Iterable[Table], stack: ExitStack) -> tuple[list[str], int]:
    """The views of `tables`: their names, and how many encrypted files they read (an S3 archive's
    encrypted files are fetched to temp copies that last as long as `stack`; their data keys are known
    to `con` only)."""
    if not isinstance(store, LocalStore):
        s3_secret(con, target)
    runs = run_times(store)
    names = []
    reader = ArchiveReader(store, stack, remote=True)
    for table in tables:
        define_table(con, store, reader, table, runs)
        names.append(table.qualified_name)
    return names, reader.encrypted

"""`archival query`: SQL over the archive's views (archival/query/views.py)."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack

import duckdb

from archival.archive.rows import NeedsRetrieval
from archival.archive.targets import open_store, target_name
from archival.cli.common import FAILED, OK, USAGE, load
from archival.query.views import define_views, encrypted_files
from archival.source import duck
from archival.text import aligned


def _print(result: duckdb.DuckDBPyRelation | None, fmt: str) -> None:
    if result is None:
        return
    names = [d[0] for d in result.description]
    rows = result.fetchall()
    if fmt == "json":
        print(json.dumps([dict(zip(names, r, strict=True)) for r in rows], default=str, indent=2))
        return
    if fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerows([names, *rows])
        return
    print("\n".join(aligned([names, *[["NULL" if v is None else str(v) for v in r] for r in rows]])))
    print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def cmd_query(args: argparse.Namespace) -> int:
    project, tables = load(args)
    store = open_store(project, args.target)
    target = project.targets[target_name(project, args.target)]
    if args.duckdb_file and args.duckdb_file.stem in {t.domain for t in tables}:
        print(f"archival query: --duckdb-file {args.duckdb_file}: DuckDB names the database after the file, so "
              f"{args.duckdb_file.stem}.<table> would be ambiguous; name the file otherwise (e.g. archive.duckdb)",
              file=sys.stderr)
        return USAGE
    if args.duckdb_file and (encrypted := encrypted_files(store, tables)):
        print(f"archival query: --duckdb-file {args.duckdb_file}: {encrypted} archived file(s) are encrypted, and a "
              "DuckDB file cannot keep their data keys; query through `archival query` instead", file=sys.stderr)
        return USAGE
    extensions = ("httpfs",) if target.type == "s3" else ()
    database = str(args.duckdb_file) if args.duckdb_file else ":memory:"
    stack = ExitStack()
    con = duck.connect(extensions, database=database)
    try:
        try:
            names, _ = define_views(con, project, store, target, tables, stack)
        except NeedsRetrieval as exc:
            print(f"archival query: {exc}", file=sys.stderr)
            return FAILED
        if args.duckdb_file:
            print(f"{args.duckdb_file}: views of {len(names)} table(s); open it with DuckDB, e.g. "
                  f"SELECT count(*) FROM {names[0] if names else 'domain.table'}")
            return OK
        try:
            _print(con.sql(args.sql), args.format)
        except duckdb.Error as exc:
            print(f"archival query: {str(exc).splitlines()[0]}", file=sys.stderr)
            return USAGE if isinstance(exc, duckdb.ParserException | duckdb.BinderException |
                                       duckdb.CatalogException) else FAILED
        return OK
    finally:
        con.close()
        stack.close()

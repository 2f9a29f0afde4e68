"""`archival restore`: archived rows back into a database (archival/restore/load.py)."""

from __future__ import annotations

import argparse
import sys

from archival.archive.rows import ArchiveDamaged, NeedsRetrieval
from archival.archive.targets import open_store
from archival.cli.common import FAILED, OK, USAGE, load
from archival.restore.load import RestoreFailed, RestoreRequest, RestoreUsage, restore_table
from archival.restore.target import TargetUsage, parse_target
from archival.source.duck import SourceError


def _clashes(names: list[str], qualified: list[str]) -> str | None:
    """The selected tables that share a table name (a restore names target tables by it)."""
    for name in dict.fromkeys(names):
        same = [q for n, q in zip(names, qualified, strict=True) if n == name]
        if len(same) > 1:
            return " and ".join(same)
    return None


def _rows(n: int) -> str:
    return f"{n:,} row{'' if n == 1 else 's'}"


def cmd_restore(args: argparse.Namespace) -> int:
    if not args.select:
        print("archival restore: needs --select (table:DOMAIN.TABLE or domain:NAME)", file=sys.stderr)
        return USAGE
    project, tables = load(args)
    if args.table and len(tables) != 1:
        print(f"archival restore: --table names one table, the selection has {len(tables)}", file=sys.stderr)
        return USAGE
    clashes = _clashes([t.name for t in tables], [t.qualified_name for t in tables])
    if clashes:
        print(f"archival restore: {clashes}: they would restore into one table; select one of them and name the "
              "target table with --table", file=sys.stderr)
        return USAGE
    request = RestoreRequest(tuple(args.period), args.as_of, args.all_versions, args.if_exists, args.dry_run,
                             args.table)
    try:
        target = parse_target(args.to, args.to_type)
        store = open_store(project, args.target)
        for table in tables:  # every table first: a refusal writes nothing
            restore_table(project, store, table, target, request, check_only=True)
        for table in tables:
            report = restore_table(project, store, table, target, request)
            assert report is not None
            if report.dry_run:
                print(f"would restore {report.table} -> {report.target}: {_rows(report.rows)}\n  {report.ddl}")
            else:
                print(f"restored {report.table} -> {report.target}: {_rows(report.rows)}, verified by fingerprint")
            for note in report.notes:
                print(f"  {note}")
    except (RestoreUsage, TargetUsage, NeedsRetrieval) as exc:
        print(f"archival restore: {exc}", file=sys.stderr)
        return USAGE
    except (RestoreFailed, ArchiveDamaged, SourceError) as exc:
        print(f"archival restore: {exc}", file=sys.stderr)
        return FAILED
    return OK

"""`archival purge`: delete archived rows from the sources, only where the archive provably holds
them (archival/purge/, docs/purge.md)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from archival.archive.rows import ArchiveDamaged
from archival.archive.store import ArchiveUnavailable
from archival.archive.targets import TargetError, open_store
from archival.cli.common import FAILED, OK, USAGE, load
from archival.purge.period import PurgeFailed
from archival.purge.references import ReferenceCycle
from archival.purge.run import NothingToPurge, PurgeReport, due_text, purge_project
from archival.purge.session import PurgeRefused, PurgeStatementFailed
from archival.source.duck import SourceError
from archival.spec.model import Project, Table
from archival.text import aligned


def purge_due(project: Project, tables: list[Table], target: str | None, as_of: datetime) -> str | None:
    """`plan`'s line on purges (archival/purge/run.py); an archive that cannot be read says so."""
    try:
        return due_text(project, open_store(project, target), tables, as_of)
    except (ArchiveUnavailable, TargetError) as exc:
        return f"purge due: unknown ({exc})"


def _lines(report: PurgeReport) -> list[str]:
    verb = "would delete" if report.dry_run else "deleted"
    rows = [["table", "period", verb, "kept", "why kept"]]
    for p in report.periods:
        why = "; ".join(f"{n:,} {reason}" for reason, n in sorted(p.kept.items())) or "-"
        rows.append([p.table, p.period, f"{p.deleted:,}", f"{sum(p.kept.values()):,}", why])
    out = aligned(rows) if report.periods else ["no archived period is due for purging"]
    for p in report.periods:
        out += [f"  {p.table} {p.period}: {note}" for note in p.notes]
    if report.settled:
        out.append(f"settled {len(report.settled)} interrupted purge run(s): {', '.join(report.settled)}")
    if report.stopped:
        out.append(f"stopped early: {report.stopped}; the next run goes on")
    out.append(f"purge {report.run_id} as of {report.as_of}: {verb} {report.deleted:,} row(s)"
               + (f"; record {report.record}" if report.record else ""))
    return out


def cmd_purge(args: argparse.Namespace) -> int:
    project, tables = load(args)
    if args.max_rows is not None and args.max_rows < 1:
        print("archival purge: --max-rows must be at least 1", file=sys.stderr)
        return USAGE
    try:
        report = purge_project(project, tables, target=args.target, as_of=args.as_of, dry_run=args.dry_run,
                               max_rows=args.max_rows, ignore_quiet_hours=args.ignore_quiet_hours)
    except NothingToPurge as exc:
        print(f"archival purge: {exc}", file=sys.stderr)
        return USAGE
    except (PurgeRefused, PurgeFailed, PurgeStatementFailed, ArchiveDamaged, ReferenceCycle, SourceError) as exc:
        print(f"archival purge: {exc}", file=sys.stderr)
        return FAILED
    if args.json:
        print(json.dumps(report.as_json(), indent=2, default=str))
    else:
        print("\n".join(_lines(report)))
    return OK

"""`archival lifecycle` (tiers and expiry, archival/lifecycle/) and `archival hold` (legal holds)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from archival.archive.s3 import S3Store
from archival.archive.store import ArchiveUnavailable
from archival.archive.targets import TargetError, open_store
from archival.cli.common import FAILED, OK, USAGE, load
from archival.lifecycle.apply import run_lifecycle
from archival.lifecycle.due import due_summary
from archival.lifecycle.holds import HoldUsage, add_hold, holds, release_hold
from archival.lifecycle.retrieve import request_retrieval
from archival.lifecycle.rules import s3_rules
from archival.lifecycle.survey import PeriodState
from archival.record.anchor import record_head
from archival.spec.model import Project, Table
from archival.spec.select import SelectorError, parse_selectors, select_tables
from archival.text import aligned


def _row(state: PeriodState) -> dict:
    due = state.due.tier or "expired"
    return {"table": state.table.qualified_name, "period": state.period, "class": state.data_class,
            "tier": state.tier_now, "due": due, "bytes": state.bytes, "rows": state.rows, "action": state.action,
            "hold": state.hold.scope if state.hold else None}


def _print(rows: list[dict]) -> None:
    header = ["TABLE", "PERIOD", "CLASS", "TIER", "DUE", "BYTES", "ACTION"]
    cells = [header] + [[r["table"], r["period"], r["class"], r["tier"] or "-", r["due"], f"{r['bytes']:,}",
                         r["action"] + (f" ({r['hold']})" if r["hold"] else "")] for r in rows]
    print("\n".join(aligned(cells)))


def cmd_lifecycle(args: argparse.Namespace) -> int:
    project, tables = load(args)
    if args.emit_s3_rules:
        print(json.dumps(s3_rules(project, tables, args.target), indent=2))
        return OK
    as_of = args.as_of or datetime.now(UTC)
    results = run_lifecycle(project, open_store(project, args.target), tables, as_of, args.dry_run)
    rows = [_row(after) for _, after in results]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print(rows)
        counts = {a: sum(1 for found, _ in results if found.action == a) for a in ("transition", "expire", "held")}
        verb = "would move" if args.dry_run else "moved"
        print(f"lifecycle as of {as_of.isoformat()}: {verb} {counts['transition']} period(s), "
              f"{'would expire' if args.dry_run else 'expired'} {counts['expire']}, {counts['held']} held")
    locked = [found for found, _ in results if found.action == "locked"]
    for state in locked:
        until = state.locked_until.isoformat() if state.locked_until else "a later date"
        print(f"archival lifecycle: {state.table.qualified_name} {state.period}: past its retention, but its objects "
              f"are under S3 Object Lock until {until}: expiry refused (nothing of it was changed); it expires "
              "once the lock ends", file=sys.stderr)
    return FAILED if locked else OK


def lifecycle_due(project: Project, tables: list[Table], target: str | None, as_of: datetime,
                  markdown: bool = False) -> list[str]:
    """`plan`'s lines on the lifecycle (archival/lifecycle/due.py)."""
    try:
        summary = due_summary(project, open_store(project, target), tables, as_of)
    except (ArchiveUnavailable, TargetError) as exc:
        return ["", f"lifecycle: unknown ({exc})"]
    if summary is None or not summary.anything:
        return []
    return ["", f"**{summary.text()}**" if markdown else summary.text()]


def cmd_retrieve(args: argparse.Namespace) -> int:
    project, tables = load(args)
    store = open_store(project, args.target)
    if not isinstance(store, S3Store):
        print("archival retrieve: this target is not S3: its files are always readable")
        return OK
    asked = request_retrieval(store, tables, args.period, args.days)
    print(f"retrieve: asked S3 to restore {asked} file(s) for {args.days} day(s); restore and query read them once "
          "S3 has (minutes to hours, by class)")
    return OK


def cmd_hold(args: argparse.Namespace) -> int:
    project, _ = load(args)
    store = open_store(project, args.target)
    if args.hold_action == "ls":
        for hold in holds(store).values():
            print(f"{hold.scope}  since {hold.at}  by {hold.by}: {hold.reason}")
        return OK
    if not args.scope or not args.reason:
        print(f"archival hold {args.hold_action}: needs DOMAIN.TABLE[/PERIOD] and --reason", file=sys.stderr)
        return USAGE
    table = args.scope.split("/", 1)[0]
    try:
        known = select_tables(project, parse_selectors([f"table:{table}"])) if "*" not in table else []
    except SelectorError:
        known = []
    if not known:
        print(f"archival hold: no table {table} in the specs (DOMAIN.TABLE[/PERIOD])", file=sys.stderr)
        return USAGE
    try:
        if args.hold_action == "add":
            add_hold(store, args.scope, args.reason)
            record_head(store, project.root, project.name)
            print(f"{args.scope}: on hold (nothing in it expires until `archival hold remove`)")
        else:
            release_hold(store, args.scope, args.reason)
            record_head(store, project.root, project.name)
            print(f"{args.scope}: hold removed; the next `archival lifecycle` applies its retention")
    except HoldUsage as exc:
        print(f"archival hold: {exc}", file=sys.stderr)
        return USAGE
    return OK


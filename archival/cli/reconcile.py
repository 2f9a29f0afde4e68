"""`archival reconcile`: archived periods against their source rows, and `--repair` (a run that
refreshes exactly the periods found different, then compares them again)."""

from __future__ import annotations

import argparse
import sys

from archival.cli.common import FAILED, OK, load
from archival.cli.run import run_flow
from archival.verify.reconcile import reconcile_project
from archival.verify.reconcile_report import all_ok, reports_json, reports_text
from archival.verify.repair import repair_request


def cmd_reconcile(args: argparse.Namespace) -> int:
    project, tables = load(args)
    reports, relations = reconcile_project(project, tables, target=args.target, period=args.period)
    sys.stdout.write(reports_json(reports, relations) if args.json else reports_text(reports, relations))
    if all_ok(reports, relations) or not args.repair:
        return OK if all_ok(reports, relations) else FAILED
    refresh = repair_request(reports)
    if refresh is None:
        print("archival reconcile --repair: only relations differ; they follow from rows: refresh the tables' "
              "periods with `archival run --refresh`", file=sys.stderr)
        return FAILED
    print(f"\nrepair: {refresh.reason}", file=sys.stderr)
    code = run_flow(args, sorted({f"table:{u.split('/', 1)[0]}" for u in refresh.units}), refresh)
    if code != OK:
        return code
    again = [t for t in tables if any(u.startswith(f"{t.qualified_name}/") for u in refresh.units)]
    reports, relations = reconcile_project(project, again, target=args.target, period=args.period)
    reports = [r for r in reports if f"{r.table}/{r.period}" in refresh.units]
    print("\nafter the repair:", file=sys.stderr)
    sys.stdout.write(reports_json(reports, relations) if args.json else reports_text(reports, relations))
    return OK if all_ok(reports, relations) else FAILED

"""`archival scrub`: rotating checks of the archive's files, and repair from the source
(archival/verify/scrub.py, archival/run/scrub_repair.py)."""

from __future__ import annotations

import argparse
import json
import sys

from archival.archive.targets import open_store, target_name
from archival.cli.common import FAILED, OK, USAGE, load
from archival.run.scrub_repair import scrub_and_repair
from archival.verify.scrub import SubsetUsage, parse_subset


def cmd_scrub(args: argparse.Namespace) -> int:
    try:
        subset = parse_subset(args.subset)
    except SubsetUsage as exc:
        print(f"archival scrub: {exc}", file=sys.stderr)
        return USAGE
    project, tables = load(args)
    outcome = scrub_and_repair(project, open_store(project, args.target), target_name(project, args.target), tables,
                               subset, args.deep, args.repair)
    report, repairs, left = outcome.report, outcome.repairs, outcome.left
    damaged = report.damaged()
    if args.json:
        print(json.dumps({"subset": f"{subset[0]}/{subset[1]}", "files": len(report.files), "bytes": report.bytes,
                          "findings": [vars(f) for f in report.findings],
                          "repairs": [vars(r) for r in repairs], "unrepaired": left}, indent=2))
    else:
        for finding in report.findings:
            print(finding, file=sys.stderr)
        for repair in repairs:
            print(f"{'repaired' if repair.repaired else 'not repaired'}: {repair.path}: {repair.message}",
                  file=sys.stderr)
        print(f"scrub {subset[0]}/{subset[1]}: {len(report.files)} file(s), {report.bytes:,} bytes: "
              + (f"{len(damaged)} damaged, {len(damaged) - len(left)} repaired" if damaged else "ok"))
    return FAILED if left else OK

"""`archival audit`: the audit trail, and its check against the anchored head (archival/verify/audit_trail.py)."""

from __future__ import annotations

import argparse
import json
import sys

from archival.archive.targets import open_store
from archival.cli.common import FAILED, OK
from archival.spec.load import load_project
from archival.text import aligned
from archival.verify.audit_trail import read_trail, summary, when, who_text


def cmd_audit(args: argparse.Namespace) -> int:
    project = load_project(args.project_dir)
    store = open_store(project, args.target)
    trail = read_trail(store, project.root, project.name, args.since, args.verify)
    if args.format == "json":
        print(json.dumps({"entries": [{"sequence": s, **e} for s, e in trail.entries], "problems": trail.problems,
                          "anchored": trail.anchored}, indent=2, default=str))
    else:
        rows = [["#", "when", "action", "who", "what"]]
        rows += [[str(s), when(e), str(e.get("action")), who_text(e), summary(e)] for s, e in trail.entries]
        print("\n".join(aligned(rows)))
        if args.verify:
            print(f"audit chain: {'ok' if not trail.problems else f'{len(trail.problems)} problem(s)'}; anchored in "
                  f"{', '.join(trail.anchored) or 'nothing'}")
    for problem in trail.problems:
        print(f"audit: {problem}", file=sys.stderr)
    return FAILED if trail.problems else OK

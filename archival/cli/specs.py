"""The commands that read the specs alone: `validate` (its `--connect` checks reach the sources, the
archive and the secrets: cli/connected.py) and `ls`. They import only the spec language, so a spec
check in CI or a pre-commit hook starts in a fraction of a second."""

from __future__ import annotations

import argparse
import json
import sys

from archival.cli.common import FAILED, OK, USAGE, load
from archival.text import aligned


def cmd_validate(args: argparse.Namespace) -> int:
    project, tables = load(args)
    domains = {t.domain for t in tables}
    if args.connect:
        # the sources, the archive and the secrets: only --connect pays for their libraries' import
        from archival.cli.connected import connected_problems

        mismatches, unreachable = connected_problems(project, tables, strict=args.strict)
        for problem in mismatches + unreachable:
            print(problem, file=sys.stderr)
        if mismatches:
            return USAGE
        if unreachable:
            return FAILED
    checked = " and its sources" if args.connect else ""
    print(f"ok: {project.name}: {len(domains)} domain(s), {len(tables)} table(s){checked} valid")
    return OK


def cmd_ls(args: argparse.Namespace) -> int:
    project, tables = load(args)
    rows = [{"table": t.qualified_name, "mode": t.mode, "period": t.period, "cursor": list(t.cursor),
             "primary_key": list(t.primary_key), "source": project.source_of_table(t).name,
             "relation": t.relation, "format": t.format, "tags": list(t.tags), "spec": str(t.location)}
            for t in tables]
    if args.json:
        print(json.dumps(rows, indent=2))
        return OK
    header = ("TABLE", "MODE", "PERIOD", "CURSOR", "KEY", "SOURCE", "RELATION")
    body = [(r["table"], r["mode"], r["period"] or "-", ",".join(r["cursor"]) or "-", ",".join(r["primary_key"]),
             r["source"], r["relation"]) for r in rows]
    print("\n".join(aligned([header, *body])))
    return OK

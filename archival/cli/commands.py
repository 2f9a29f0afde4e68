"""The commands that read specs, sources and the archive: plan, verify, rebaseline, deployments,
grants, schema (`validate` and `ls`, which read the specs alone, are in cli/specs.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archival.archive.manifest import manifest_schema_text
from archival.archive.targets import open_store
from archival.cli.common import FAILED, OK, USAGE, load, refresh_request
from archival.cli.lifecycle import lifecycle_due
from archival.cli.purge import purge_due
from archival.plan.build import build_plan
from archival.plan.compile import table_identity
from archival.plan.explain import render_json, render_markdown, render_text
from archival.record.anchor import record_head
from archival.record.rebaseline import NothingToRebaseline, changes_to_accept, rebaseline
from archival.source.grants import grants
from archival.source.types import types_markdown
from archival.spec.docs import specs_markdown
from archival.spec.jsonschema import json_schema_text
from archival.spec.load import load_project
from archival.spec.select import parse_selectors
from archival.verify.check import verify_archive


def cmd_plan(args: argparse.Namespace) -> int:
    project, tables = load(args)
    plan = build_plan(project, tables, target=args.target, as_of=args.as_of, offline=args.offline,
                      selectors=tuple(str(s) for s in parse_selectors(args.select)),
                      refresh=refresh_request(args, tables, required=False))
    if args.format == "json":
        sys.stdout.write(render_json(plan))
    elif args.format == "markdown":
        sys.stdout.write(render_markdown(plan))
    else:
        sys.stdout.write(render_text(plan, verbose=args.verbose))
    if args.format != "json":
        for line in lifecycle_due(project, tables, args.target, plan.as_of, markdown=args.format == "markdown"):
            print(line)
        purge = purge_due(project, tables, args.target, plan.as_of)
        if purge:
            print(f"\n**{purge}**" if args.format == "markdown" else f"\n{purge}")
    if plan.has_errors:
        return USAGE
    if plan.unreachable:
        print(f"archival plan: could not reach {', '.join(plan.unreachable)}: what depends on it is marked unknown "
              "(not checked); --offline plans without asking the sources", file=sys.stderr)
        return FAILED
    return OK


def cmd_verify(args: argparse.Namespace) -> int:
    project, tables = load(args)
    wanted = {(t.domain, t.name) for t in tables}
    report = verify_archive(open_store(project, args.target), deep=args.deep,
                            include=lambda d, t: (d, t) in wanted)
    for finding in report.findings:
        print(finding, file=sys.stderr)
    depth = f", {report.rows_checked:,} rows re-read" if args.deep else ""
    if report.frozen:
        depth += (f"; {len(report.frozen)} file(s) in GLACIER/DEEP_ARCHIVE checked by the sha256 stored with them "
                  "(`archival retrieve` them to re-read)")
    verdict = "ok" if report.ok else f"{len(report.findings)} problem(s)"
    print(f"verify: {report.manifests} manifest(s), {report.files} file(s), {report.bytes:,} bytes{depth}: {verdict}")
    return OK if report.ok else FAILED


def cmd_deployments(args: argparse.Namespace) -> int:
    from archival.run.deployments import sync_file  # ruamel: only this command pays for it

    project = load_project(args.project_dir)
    path = Path(args.project_dir) / "prefect.yaml"
    stale = sync_file(path, project, args.work_pool, write=not args.check)
    if args.check and stale:
        print(f"{path} is out of date with specs/: run `archival deployments`", file=sys.stderr)
        return FAILED
    state = "updated" if stale and not args.check else "current"
    print(f"{path} is {state}: {len(project.domains)} generated deployment(s)")
    return OK


def cmd_grants(args: argparse.Namespace) -> int:
    project = load_project(args.project_dir)
    source = project.sources.get(args.source)
    if source is None:
        print(f"archival grants: no source '{args.source}' in archival.yaml (declared: "
              f"{', '.join(sorted(project.sources))})", file=sys.stderr)
        return USAGE
    sys.stdout.write(grants(project, source, args.role, args.purge_role, args.database).text())
    return OK


def cmd_rebaseline(args: argparse.Namespace) -> int:
    if not args.select:
        print("archival: rebaseline needs --select table:DOMAIN.TABLE; it never applies to everything", file=sys.stderr)
        return USAGE
    project, tables = load(args)
    store = open_store(project, args.target)
    try:  # every table first: a refusal records nothing
        accepted = [(table, changes_to_accept(store, project, table)) for table in tables]
    except NothingToRebaseline as exc:
        print(f"archival rebaseline: {exc}", file=sys.stderr)
        return USAGE
    for table, changes in accepted:
        path = rebaseline(store, table, changes, args.reason)
        record_head(store, project.root, project.name)
        print(f"{table.qualified_name}: new baseline {table_identity(table)} ({', '.join(changes)}) recorded in {path}")
    return OK


def cmd_schema(args: argparse.Namespace) -> int:
    if args.types:
        sys.stdout.write(types_markdown())
    else:
        sys.stdout.write(specs_markdown() if args.docs else manifest_schema_text() if args.kind == "manifest"
                         else json_schema_text(args.kind))
    return OK

"""`archival` command line. Parses arguments, calls the stages, renders, and maps outcomes to exit
status: 0 ok, 1 the job or the data failed, 2 bad usage or bad spec. Holds no logic of its own."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from archival import __version__
from archival.archive.audit_log import AuditChainError
from archival.archive.manifest import manifest_schema_text
from archival.archive.state import ArchiveStateError
from archival.archive.store import ArchiveUnavailable
from archival.archive.targets import TargetError, open_store, probe_writable
from archival.check.fit import contract_misfits
from archival.plan.build import build_plan
from archival.plan.compile import table_identity
from archival.plan.explain import render_json, render_markdown, render_text
from archival.plan.refresh import NothingToRefresh, Refresh
from archival.record.rebaseline import NothingToRebaseline, changes_to_accept, rebaseline
from archival.run.runners import RUNNER_KINDS
from archival.run.summary import render_summary
from archival.source.probe import probe_tables
from archival.source.secrets import SecretError, resolve
from archival.source.types import types_markdown
from archival.spec.docs import specs_markdown
from archival.spec.errors import SpecErrors
from archival.spec.jsonschema import json_schema_text
from archival.spec.load import load_project
from archival.spec.model import Project, Table
from archival.spec.select import SelectorError, parse_selectors, select_tables
from archival.verify.check import verify_archive
from archival.verify.reconcile import UnknownPeriod, reconcile_project
from archival.verify.reconcile_report import all_ok, reports_json, reports_text
from archival.verify.repair import repair_request

OK, FAILED, USAGE = 0, 1, 2


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project-dir", type=Path, default=Path("."), help="folder holding archival.yaml")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    parser.add_argument("-s", "--select", action="append", metavar="SELECTOR",
                        help="domain:NAME, table:DOMAIN.TABLE or tag:NAME (repeatable; wildcards allowed)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="archival", description="Spec-driven archive of low-code app databases.")
    parser.add_argument("--version", action="version", version=f"archival {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check archival.yaml and specs/*.yaml")
    _common(p)
    p.add_argument("--connect", action="store_true",
                   help="also check that relations, keys and cursor columns exist in the sources")

    p = sub.add_parser("ls", help="list the selected tables")
    _common(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("plan", help="show what a run would do, without doing it")
    _common(p)
    p.add_argument("--target", help="archive target (default: archive.default)")
    p.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    p.add_argument("--json", action="store_const", dest="format", const="json", help="same as --format json")
    p.add_argument("--as-of", type=_instant, help="plan as if it were this UTC instant (ISO 8601)")
    p.add_argument("--offline", action="store_true", help="do not contact the sources")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="list every unit and its stages (-vv: describe each stage)")
    _refresh_options(p)

    p = sub.add_parser("run", help="export the due units (a Prefect flow on the local ephemeral server)")
    _common(p)
    p.add_argument("--target", help="archive target (default: archive.default)")
    p.add_argument("--as-of", type=_instant, help="run as if it were this UTC instant (ISO 8601)")
    p.add_argument("--retry-failed", metavar="RUN_ID", help="run again only the units that failed in that run")
    p.add_argument("--metrics-file", help="write OpenMetrics text here (node-exporter textfile collector)")
    p.add_argument("--ignore-quiet-hours", action="store_true",
                   help="start units even inside the domains' quiet hours (a manual run, on purpose)")
    p.add_argument("--runner", choices=RUNNER_KINDS, default="thread",
                   help="where units execute: threads here (default), local processes, or a Dask cluster")
    p.add_argument("--dask-address", metavar="tcp://HOST:PORT",
                   help="Dask scheduler for --runner dask (default: a temporary local cluster)")
    p.add_argument("--workers", type=int, help="processes or local Dask workers (threads: pool size)")
    p.add_argument("--no-progress", action="store_true", help="plain log lines even in a terminal")
    _refresh_options(p)

    p = sub.add_parser("verify", help="check files, sizes, hashes, manifests and the audit chain")
    _common(p)
    p.add_argument("--target", help="archive target (default: archive.default)")
    p.add_argument("--deep", action="store_true", help="also re-read the data: row counts and fingerprints")

    p = sub.add_parser("reconcile", help="compare archived periods with their source rows; name differing keys")
    _common(p)
    p.add_argument("--target", help="archive target (default: archive.default)")
    p.add_argument("--period", help="only this period label, e.g. 2026-10")
    p.add_argument("--json", action="store_true")
    p.add_argument("--repair", action="store_true",
                   help="refresh exactly the periods found different (a run, audited), then compare them again")
    p.add_argument("--no-progress", action="store_true", help="plain log lines even in a terminal (with --repair)")

    p = sub.add_parser("deployments", help="write the Prefect deployments of prefect.yaml from the specs")
    _common(p)
    p.add_argument("--work-pool", default="archival", help="work pool of generated deployments (default: archival)")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if prefect.yaml is out of date")

    p = sub.add_parser("rebaseline", help="accept a changed cursor, key, mode or period of archived tables")
    _common(p)
    p.add_argument("--target", help="archive target (default: archive.default)")
    p.add_argument("--reason", required=True, help="why; recorded in the audit chain")

    p = sub.add_parser("schema", help="print the JSON Schema of the spec language (or its docs)")
    _common(p)
    p.add_argument("--kind", choices=["project", "domain", "manifest"], default="domain")
    p.add_argument("--docs", action="store_true", help="print docs/specs.md instead")
    p.add_argument("--types", action="store_true", help="print docs/types.md: source types and archive types")
    return parser


def _refresh_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--refresh", action="store_true",
                   help="re-read the selected archived periods from the source; a new version where rows differ")
    p.add_argument("--period", help="with --refresh: only this period label, e.g. 2026-10")
    p.add_argument("--reason", help="with --refresh: why (required for run; recorded in the audit chain)")


def _refresh_request(args: argparse.Namespace, tables: list[Table], required: bool) -> Refresh | None:
    """The refresh the options ask for; RefreshUsage when they are incomplete."""
    if not args.refresh:
        if args.period or args.reason:
            raise RefreshUsage("--period and --reason go with --refresh")
        return None
    if not args.select:
        raise RefreshUsage("--refresh needs --select (table:DOMAIN.TABLE, domain:NAME, ...); it never applies to "
                           "everything")
    if required and not args.reason:
        raise RefreshUsage("--refresh needs --reason \"...\": it is recorded in the audit chain")
    units = tuple(f"{t.qualified_name}/{args.period}" for t in tables) if args.period else ()
    return Refresh(args.reason or "plan only", units)


class RefreshUsage(ValueError):
    """--refresh options that do not go together (exit 2)."""


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an ISO 8601 instant, e.g. 2026-11-01T00:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _load(args: argparse.Namespace) -> tuple[Project, list[Table]]:
    project = load_project(args.project_dir)
    return project, select_tables(project, parse_selectors(args.select))


def cmd_validate(args: argparse.Namespace) -> int:
    project, tables = _load(args)
    domains = {t.domain for t in tables}
    if args.connect:
        facts = probe_tables(project, tables)
        mismatches = [f.problem for f in facts.values() if f.problem and f.probed]
        mismatches += contract_misfits(tables, facts) + _pii_key_problems(project, tables)
        unreachable = sorted({f.problem for f in facts.values() if f.problem and not f.probed})
        unreachable += _target_problems(project)
        for problem in mismatches + unreachable:
            print(problem, file=sys.stderr)
        if mismatches:
            return USAGE
        if unreachable:
            return FAILED
    checked = " and its sources" if args.connect else ""
    print(f"ok: {project.name}: {len(domains)} domain(s), {len(tables)} table(s){checked} valid")
    return OK


def _pii_key_problems(project: Project, tables: list[Table]) -> list[str]:
    if project.pii_hash_key is None or not any(c.pii == "hash" for t in tables for c in t.columns):
        return []
    try:
        resolve(project.pii_hash_key, "pii.hash_key")
    except SecretError as exc:
        return [f"archival.yaml: {exc}"]
    return []


def _target_problems(project: Project) -> list[str]:
    problems = []
    for name in sorted(project.targets):
        try:
            probe_writable(open_store(project, name))
        except (ArchiveUnavailable, SecretError) as exc:
            problems.append(f"target '{name}': {exc}")
    return problems


def cmd_ls(args: argparse.Namespace) -> int:
    project, tables = _load(args)
    rows = [{"table": t.qualified_name, "mode": t.mode, "period": t.period, "cursor": list(t.cursor),
             "primary_key": list(t.primary_key), "source": project.domain(t.domain).source,  # type: ignore[union-attr]
             "relation": t.relation, "format": t.format, "tags": list(t.tags), "spec": str(t.location)}
            for t in tables]
    if args.json:
        print(json.dumps(rows, indent=2))
        return OK
    header = ("TABLE", "MODE", "PERIOD", "CURSOR", "KEY", "SOURCE", "RELATION")
    body = [(r["table"], r["mode"], r["period"] or "-", ",".join(r["cursor"]) or "-", ",".join(r["primary_key"]),
             r["source"], r["relation"]) for r in rows]
    widths = [max(len(x[i]) for x in [header, *body]) for i in range(len(header))]
    for row in [header, *body]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return OK


def cmd_plan(args: argparse.Namespace) -> int:
    project, tables = _load(args)
    plan = build_plan(project, tables, target=args.target, as_of=args.as_of, offline=args.offline,
                      selectors=tuple(str(s) for s in parse_selectors(args.select)),
                      refresh=_refresh_request(args, tables, required=False))
    if args.format == "json":
        sys.stdout.write(render_json(plan))
    elif args.format == "markdown":
        sys.stdout.write(render_markdown(plan))
    else:
        sys.stdout.write(render_text(plan, verbose=args.verbose))
    if plan.has_errors:
        return USAGE
    if plan.unreachable:
        print(f"archival plan: could not reach {', '.join(plan.unreachable)}: what depends on it is marked unknown "
              "(not checked); --offline plans without asking the sources", file=sys.stderr)
        return FAILED
    return OK


def cmd_run(args: argparse.Namespace) -> int:
    _, tables = _load(args)  # spec and selector errors end here, before any flow starts
    return _run(args, args.select, _refresh_request(args, tables, required=True))


def _run(args: argparse.Namespace, select: list[str] | None, refresh: Refresh | None) -> int:
    """The Prefect flow on the selection; prints its summary or the refusal it ended on."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no phone home unless asked for
    from archival.run.flow import run_outcome  # imports Prefect: only `run` pays for it
    from archival.run.refusal import RunRefused
    from archival.run.runners import RunnerError, SchedulerUnreachable

    try:
        summary = run_outcome(args.project_dir, runner=getattr(args, "runner", "thread"),
                              dask_address=getattr(args, "dask_address", None), workers=getattr(args, "workers", None),
                              select=select, target=args.target, as_of=getattr(args, "as_of", None),
                              retry_failed=getattr(args, "retry_failed", None),
                              metrics_file=getattr(args, "metrics_file", None),
                              ignore_quiet_hours=getattr(args, "ignore_quiet_hours", False),
                              progress=not args.no_progress, refresh=refresh)
    except RunnerError as exc:
        print(f"archival run: {exc}", file=sys.stderr)
        return FAILED if isinstance(exc, SchedulerUnreachable) else USAGE
    if isinstance(summary, RunRefused):
        for line in summary.lines:
            print(line, file=sys.stderr)
        return summary.code
    sys.stdout.write(render_summary(summary.results, summary.run_id, summary.target))
    return FAILED if summary.failed else OK


def cmd_verify(args: argparse.Namespace) -> int:
    project, tables = _load(args)
    wanted = {(t.domain, t.name) for t in tables}
    report = verify_archive(open_store(project, args.target), deep=args.deep,
                            include=lambda d, t: (d, t) in wanted)
    for finding in report.findings:
        print(finding, file=sys.stderr)
    depth = f", {report.rows_checked:,} rows re-read" if args.deep else ""
    verdict = "ok" if report.ok else f"{len(report.findings)} problem(s)"
    print(f"verify: {report.manifests} manifest(s), {report.files} file(s), {report.bytes:,} bytes{depth}: {verdict}")
    return OK if report.ok else FAILED


def cmd_reconcile(args: argparse.Namespace) -> int:
    project, tables = _load(args)
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
    code = _run(args, sorted({f"table:{u.split('/', 1)[0]}" for u in refresh.units}), refresh)
    if code != OK:
        return code
    again = [t for t in tables if any(u.startswith(f"{t.qualified_name}/") for u in refresh.units)]
    reports, relations = reconcile_project(project, again, target=args.target, period=args.period)
    reports = [r for r in reports if f"{r.table}/{r.period}" in refresh.units]
    print("\nafter the repair:", file=sys.stderr)
    sys.stdout.write(reports_json(reports, relations) if args.json else reports_text(reports, relations))
    return OK if all_ok(reports, relations) else FAILED


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


def cmd_rebaseline(args: argparse.Namespace) -> int:
    if not args.select:
        print("archival: rebaseline needs --select table:DOMAIN.TABLE; it never applies to everything", file=sys.stderr)
        return USAGE
    project, tables = _load(args)
    store = open_store(project, args.target)
    try:  # every table first: a refusal records nothing
        accepted = [(table, changes_to_accept(store, project, table)) for table in tables]
    except NothingToRebaseline as exc:
        print(f"archival rebaseline: {exc}", file=sys.stderr)
        return USAGE
    for table, changes in accepted:
        path = rebaseline(store, table, changes, args.reason)
        print(f"{table.qualified_name}: new baseline {table_identity(table)} ({', '.join(changes)}) recorded in {path}")
    return OK


def cmd_schema(args: argparse.Namespace) -> int:
    if args.types:
        sys.stdout.write(types_markdown())
    else:
        sys.stdout.write(specs_markdown() if args.docs else manifest_schema_text() if args.kind == "manifest"
                         else json_schema_text(args.kind))
    return OK


COMMANDS = {"validate": cmd_validate, "ls": cmd_ls, "plan": cmd_plan, "run": cmd_run, "verify": cmd_verify,
            "rebaseline": cmd_rebaseline, "reconcile": cmd_reconcile,
            "deployments": cmd_deployments, "schema": cmd_schema}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except SpecErrors as exc:
        print(exc.render(), file=sys.stderr)
        return USAGE
    except (SelectorError, TargetError, UnknownPeriod, RefreshUsage, NothingToRefresh) as exc:
        print(f"archival: {exc}", file=sys.stderr)
        return USAGE
    except (ArchiveStateError, AuditChainError, ArchiveUnavailable, SecretError) as exc:
        print(f"archival {args.command}: {exc}", file=sys.stderr)
        return USAGE if isinstance(exc, SecretError) else FAILED
    except Exception as exc:  # noqa: BLE001 - ends the command (exit 1), it never carries on
        if getattr(args, "debug", False):
            raise
        print(f"archival {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("  (run again with --debug for the traceback)", file=sys.stderr)
        return FAILED


if __name__ == "__main__":
    sys.exit(main())

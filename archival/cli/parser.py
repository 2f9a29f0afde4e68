"""The argument parser of every command."""

from __future__ import annotations

import argparse
from pathlib import Path

from archival import __version__
from archival.cli.audit import add_audit
from archival.cli.cost import add_cost
from archival.cli.docs import add_docs
from archival.cli.init import add_init
from archival.cli.lifecycle import add_lifecycle
from archival.cli.operations import add_operations
from archival.cli.purge import add_purge
from archival.cli.query import add_query
from archival.cli.restore import add_restore, instant
from archival.cli.scrub import add_scrub
from archival.run.runners import RUNNER_KINDS


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project-dir", type=Path, default=Path("."), help="folder holding archival.yaml")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    parser.add_argument("-s", "--select", action="append", metavar="SELECTOR",
                        help="domain:NAME, table:DOMAIN.TABLE or tag:NAME (repeatable; wildcards allowed)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="archival", description="Spec-driven archive of low-code app databases.")
    parser.add_argument("--version", action="version", version=f"archival {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_spec_commands(sub)
    _add_plan(sub)
    _add_run(sub)
    _add_checks(sub)
    add_restore(sub, _common)
    add_query(sub, _common)
    add_init(sub, _common)
    add_lifecycle(sub, _common, instant)
    add_cost(sub, _common, instant)
    add_purge(sub, _common, instant)
    add_scrub(sub, _common)
    add_docs(sub, _common)
    add_operations(sub, _common)
    add_audit(sub, _common, instant)
    _add_schema(sub)
    return parser


def _add_spec_commands(sub) -> None:
    """validate and ls: the specs themselves."""
    p = sub.add_parser("validate", help="check archival.yaml and specs/*.yaml")
    _common(p)
    p.add_argument("--connect", action="store_true",
                   help="also check that relations, keys and cursor columns exist in the sources")
    p.add_argument("--strict", action="store_true", help="with --connect: an export role that may write fails it")

    p = sub.add_parser("ls", help="list the selected tables")
    _common(p)
    p.add_argument("--json", action="store_true")


def _add_schema(sub) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of the spec language (or its docs)")
    _common(p)
    p.add_argument("--kind", choices=["project", "domain", "manifest"], default="domain")
    p.add_argument("--docs", action="store_true", help="print docs/specs.md instead")
    p.add_argument("--types", action="store_true", help="print docs/types.md: source types and archive types")


def _add_plan(sub) -> None:
    p = sub.add_parser("plan", help="show what a run would do, without doing it")
    _common(p)
    p.add_argument("--target", help="archive target (default: archive.default)")
    p.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    p.add_argument("--json", action="store_const", dest="format", const="json", help="same as --format json")
    p.add_argument("--as-of", type=instant, help="plan as if it were this UTC instant (ISO 8601)")
    p.add_argument("--offline", action="store_true", help="do not contact the sources")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="list every unit and its stages (-vv: describe each stage)")
    _refresh_options(p)


def _add_run(sub) -> None:
    p = sub.add_parser("run", help="export the due units (a Prefect flow when a Prefect server is configured, "
                                   "else directly in this process)")
    _common(p)
    p.add_argument("--target", help="archive target (default: archive.default)")
    p.add_argument("--as-of", type=instant, help="run as if it were this UTC instant (ISO 8601)")
    p.add_argument("--retry-failed", metavar="RUN_ID", help="run again only the units that failed in that run")
    p.add_argument("--metrics-file", help="write OpenMetrics text here (node-exporter textfile collector)")
    p.add_argument("--ignore-quiet-hours", action="store_true",
                   help="start units even inside the domains' quiet hours (a manual run, on purpose)")
    p.add_argument("--runner", choices=RUNNER_KINDS, default="thread",
                   help="where units execute: threads here (default), local processes, or a Dask cluster")
    p.add_argument("--dask-address", metavar="tcp://HOST:PORT",
                   help="Dask scheduler for --runner dask (default: a temporary local cluster)")
    p.add_argument("--workers", type=int, help="processes or local Dask workers (threads: pool size)")
    p.add_argument("--prefect", action=argparse.BooleanOptionalAction, default=None,
                   help="run as a Prefect flow (default: when a Prefect API is configured; without one on a "
                        "temporary server of this run; --runner process/dask always do), or with --no-prefect "
                        "directly in this process (another run's concurrency slots are then not seen)")
    p.add_argument("--no-progress", action="store_true", help="plain log lines even in a terminal")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="under the progress bar, the per-unit lines too (else only warnings)")
    _refresh_options(p)


def _add_checks(sub) -> None:
    """verify, reconcile and rebaseline: the archive against itself, its source and its specs."""
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

    p = sub.add_parser("rebaseline", help="accept a changed cursor, key, mode or period of archived tables")
    _common(p)
    p.add_argument("--target", help="archive target (default: archive.default)")
    p.add_argument("--reason", required=True, help="why; recorded in the audit chain")


def _refresh_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--refresh", action="store_true",
                   help="re-read the selected archived periods from the source; a new version where rows differ")
    p.add_argument("--period", help="with --refresh: only this period label, e.g. 2026-10")
    p.add_argument("--reason", help="with --refresh: why (required for run; recorded in the audit chain)")


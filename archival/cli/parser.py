"""The argument parser of every command: its definitions only, so parsing (and `--help`) imports
none of what the commands use."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from archival import __version__
from archival.run.runners import RUNNER_KINDS


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project-dir", type=Path, default=Path("."), help="folder holding archival.yaml")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    parser.add_argument("-s", "--select", action="append", metavar="SELECTOR",
                        help="domain:NAME, table:DOMAIN.TABLE or tag:NAME (repeatable; wildcards allowed)")


def _target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", help="archive target (default: archive.default)")


def instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an ISO 8601 instant, e.g. 2026-11-01T00:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _years(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 50:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of years from 1 to 50")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="archival", description="Spec-driven archive of low-code app databases.")
    parser.add_argument("--version", action="version", version=f"archival {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_spec_commands(sub)
    _add_plan(sub)
    _add_run(sub)
    _add_checks(sub)
    _add_restore(sub)
    _add_query(sub)
    _add_init(sub)
    _add_lifecycle(sub)
    _add_cost(sub)
    _add_purge(sub)
    _add_scrub(sub)
    _add_docs(sub)
    _add_operations(sub)
    _add_audit(sub)
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
    _target(p)
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
    _target(p)
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
    _target(p)
    p.add_argument("--deep", action="store_true", help="also re-read the data: row counts and fingerprints")

    p = sub.add_parser("reconcile", help="compare archived periods with their source rows; name differing keys")
    _common(p)
    _target(p)
    p.add_argument("--period", help="only this period label, e.g. 2026-10")
    p.add_argument("--json", action="store_true")
    p.add_argument("--repair", action="store_true",
                   help="refresh exactly the periods found different (a run, audited), then compare them again")
    p.add_argument("--no-progress", action="store_true", help="plain log lines even in a terminal (with --repair)")

    p = sub.add_parser("rebaseline", help="accept a changed cursor, key, mode or period of archived tables")
    _common(p)
    _target(p)
    p.add_argument("--reason", required=True, help="why; recorded in the audit chain")


def _refresh_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--refresh", action="store_true",
                   help="re-read the selected archived periods from the source; a new version where rows differ")
    p.add_argument("--period", help="with --refresh: only this period label, e.g. 2026-10")
    p.add_argument("--reason", help="with --refresh: why (required for run; recorded in the audit chain)")


def _add_audit(sub) -> None:
    p = sub.add_parser("audit", help="read the audit trail (who did what, when, how it ended); --verify checks it")
    _common(p)
    _target(p)
    p.add_argument("--since", type=instant, help="only entries at or after this instant")
    p.add_argument("--verify", action="store_true", help="check the chain and its anchored head; exit 1 on a gap")
    p.add_argument("--format", choices=["text", "json"], default="text")


def _add_cost(sub) -> None:
    p = sub.add_parser("cost", help="what the archive costs now and in 1, 3, 5 years (tiers, growth, retention)")
    _common(p)
    _target(p)
    p.add_argument("--as-of", type=instant, help="now, for the ages (default: the current time)")
    p.add_argument("--years", type=_years, action="append", help="horizons in years (default: 1 3 5; repeatable)")
    p.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    p.add_argument("--offline", action="store_true", help="do not ask the sources for their sizes")


def _add_docs(sub) -> None:
    p = sub.add_parser("docs", help="write the HTML catalog of the project and its archive (opens offline)")
    _common(p)
    _target(p)
    p.add_argument("--out", default="catalog", help="folder to write index.html to (default: ./catalog)")
    p.add_argument("--serve", action="store_true", help="then serve the folder on http://127.0.0.1:PORT")
    p.add_argument("--port", type=int, default=8765, help="with --serve (default: 8765)")


def _add_init(sub) -> None:
    p = sub.add_parser("init", help="write a domain spec from a low-code app's metadata (NocoDB, Directus)")
    _common(p)
    p.add_argument("--from", dest="platform", required=True, choices=["nocodb", "directus"])
    p.add_argument("--source", required=True, help="the source in archival.yaml (added with --dsn when missing)")
    p.add_argument("--dsn", help="env:NAME or prefect-secret:NAME: adds the source to archival.yaml")
    p.add_argument("--base", help="NocoDB: the base's title, when the database holds several")
    p.add_argument("--domain", help="the domain's name (default: from the base's title, or the source's name)")
    p.add_argument("--owner", required=True, help="who answers for the domain (an e-mail address)")
    p.add_argument("--out", type=Path, default=Path("specs"), help="folder of the domain specs (default: specs/)")
    p.add_argument("--check", action="store_true", help="show what would change; write nothing (exit 1 if any)")


def _add_lifecycle(sub) -> None:
    p = sub.add_parser("lifecycle", help="move aged periods to cheaper tiers, expire what retention ends (holds kept)")
    _common(p)
    _target(p)
    p.add_argument("--as-of", type=instant, help="age the periods as of this instant (default: now)")
    p.add_argument("--dry-run", action="store_true", help="say what would be done; change nothing")
    p.add_argument("--json", action="store_true", help="one JSON object per period")
    p.add_argument("--emit-s3-rules", action="store_true",
                   help="print the equivalent S3 bucket lifecycle configuration instead (ages by object creation)")
    r = sub.add_parser("retrieve", help="ask S3 to restore GLACIER / DEEP_ARCHIVE files so they can be read")
    _common(r)
    _target(r)
    r.add_argument("--period", action="append", default=[], help="only these periods (repeatable)")
    r.add_argument("--days", type=int, default=7, help="how long S3 keeps the readable copy (default: 7)")
    h = sub.add_parser("hold", help="legal holds: a held table or period never expires")
    _common(h)
    h.add_argument("hold_action", choices=["add", "remove", "ls"])
    h.add_argument("scope", nargs="?", metavar="DOMAIN.TABLE[/PERIOD]")
    h.add_argument("--reason", help="why (required for add and remove; recorded in the audit chain)")
    _target(h)


def _add_operations(sub) -> None:
    p = sub.add_parser("deployments", help="write the Prefect deployments of prefect.yaml from the specs")
    _common(p)
    p.add_argument("--work-pool", default="archival", help="work pool of generated deployments (default: archival)")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if prefect.yaml is out of date")

    p = sub.add_parser("grants", help="print the GRANT statements of a read-only export role (and a purge role)")
    _common(p)
    p.add_argument("--source", required=True, help="a source of archival.yaml")
    p.add_argument("--role", default="archival_export", help="the export role (default: archival_export)")
    p.add_argument("--purge-role", default="archival_purge", help="the purge role (default: archival_purge)")
    p.add_argument("--database", default="app_database", help="MySQL: the database of unqualified relations")

    p = sub.add_parser("monitoring", help="write Prometheus alert rules and a Grafana dashboard for archival's metrics")
    _common(p)
    p.add_argument("--out", default="monitoring", help="folder to write archival-alerts.yml and "
                   "archival-dashboard.json to (default: ./monitoring)")

    p = sub.add_parser("automations", help="create or update Prefect automations that notify on archival's events")
    _common(p)
    p.add_argument("--notify-block", required=True, metavar="TYPE/NAME",
                   help="the notification block to send through, e.g. slack-webhook/oncall")


def _add_purge(sub) -> None:
    p = sub.add_parser("purge", help="delete archived rows from the source (tables with `purge:`), verified first")
    _common(p)
    _target(p)
    p.add_argument("--as-of", type=instant, help="age the periods as of this instant (default: now)")
    p.add_argument("--dry-run", action="store_true",
                   help="change nothing; report what a real run now would delete (counts, key ranges, digests)")
    p.add_argument("--max-rows", type=int, help="delete at most this many rows in this run, over all tables")
    p.add_argument("--ignore-quiet-hours", action="store_true", help="purge even inside the domains' quiet hours")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _add_query(sub) -> None:
    p = sub.add_parser("query", help="SQL over the archive: a view per table (current rows, versions, as of)")
    _common(p)
    _target(p)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--sql", help="run this SQL and print the result")
    what.add_argument("--duckdb-file", type=Path, help="write the views into this DuckDB file (for BI tools)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table", help="of --sql's result")


def _add_restore(sub) -> None:
    p = sub.add_parser("restore", help="load archived rows into PostgreSQL, MySQL/MariaDB or SQLite, verified")
    _common(p)
    _target(p)
    p.add_argument("--to", required=True, metavar="DATABASE",
                   help="env:NAME or prefect-secret:NAME holding a DSN, a DSN without password, or a SQLite file")
    p.add_argument("--to-type", choices=["postgres", "mysql", "sqlite"], help="when --to does not tell")
    p.add_argument("--table", help="target table, [schema.]name (default: the spec's table name)")
    p.add_argument("--period", action="append", default=[], help="only these periods (repeatable)")
    p.add_argument("--as-of", type=instant, help="the rows as the archive held them at this UTC instant")
    p.add_argument("--all-versions", action="store_true", help="every archived version (incremental history)")
    p.add_argument("--if-exists", choices=["fail", "append", "replace"], default="fail")
    p.add_argument("--dry-run", action="store_true", help="say what would be created and loaded; write nothing")


def _add_scrub(sub) -> None:
    p = sub.add_parser("scrub", help="check a rotating subset of the archive's files; --repair reproduces damaged "
                                     "ones from the source")
    _common(p)
    _target(p)
    p.add_argument("--subset", metavar="n/t", help="only files in part n of t (t runs with n = 1..t read every "
                                                   "file once); default: all")
    p.add_argument("--deep", action="store_true", help="also read each Parquet file's row count")
    p.add_argument("--repair", action="store_true", help="reproduce damaged or missing files from the source "
                                                         "where it still holds their rows")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

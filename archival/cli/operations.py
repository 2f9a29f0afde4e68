"""`archival deployments` (its arguments; the command is in commands.py), `archival monitoring` (alert
rules and a dashboard as files) and `archival automations` (Prefect automations on archival's events):
what operations wire archival into (docs/operations.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archival.cli.common import OK, USAGE
from archival.spec.load import load_project


def add_operations(sub: argparse._SubParsersAction, common) -> None:
    p = sub.add_parser("deployments", help="write the Prefect deployments of prefect.yaml from the specs")
    common(p)
    p.add_argument("--work-pool", default="archival", help="work pool of generated deployments (default: archival)")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if prefect.yaml is out of date")

    p = sub.add_parser("grants", help="print the GRANT statements of a read-only export role (and a purge role)")
    common(p)
    p.add_argument("--source", required=True, help="a source of archival.yaml")
    p.add_argument("--role", default="archival_export", help="the export role (default: archival_export)")
    p.add_argument("--purge-role", default="archival_purge", help="the purge role (default: archival_purge)")
    p.add_argument("--database", default="app_database", help="MySQL: the database of unqualified relations")

    p = sub.add_parser("monitoring", help="write Prometheus alert rules and a Grafana dashboard for archival's metrics")
    common(p)
    p.add_argument("--out", default="monitoring", help="folder to write archival-alerts.yml and "
                   "archival-dashboard.json to (default: ./monitoring)")

    p = sub.add_parser("automations", help="create or update Prefect automations that notify on archival's events")
    common(p)
    p.add_argument("--notify-block", required=True, metavar="TYPE/NAME",
                   help="the notification block to send through, e.g. slack-webhook/oncall")


def cmd_monitoring(args: argparse.Namespace) -> int:
    from archival.run.monitoring import alert_rules_yaml, grafana_dashboard_json

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "archival-alerts.yml").write_text(alert_rules_yaml())
    (out / "archival-dashboard.json").write_text(grafana_dashboard_json())
    print(f"wrote {out / 'archival-alerts.yml'} (Prometheus alerting rules) and {out / 'archival-dashboard.json'} "
          "(Grafana dashboard); the alert classes: docs/operations.md")
    return OK


def cmd_automations(args: argparse.Namespace) -> int:
    from archival.run.automations import NotifyBlockMissing, sync_automations  # imports Prefect

    project = load_project(args.project_dir)
    try:
        names = sync_automations(project, args.notify_block)
    except NotifyBlockMissing as exc:
        print(f"archival automations: {exc}", file=sys.stderr)
        return USAGE
    for name in names:
        print(f"automation '{name}': created or updated")
    return OK

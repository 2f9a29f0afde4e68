"""`archival deployments` (its arguments; the command is in commands.py), `archival monitoring` (alert
rules and a dashboard as files) and `archival automations` (Prefect automations on archival's events):
what operations wire archival into (docs/operations.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archival.cli.common import OK, USAGE
from archival.spec.load import load_project


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

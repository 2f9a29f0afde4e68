"""Alert rules and a dashboard for the metrics archival writes (archival/record/metrics.py), as files
the ecosystem reads: Prometheus alerting rules (YAML) and a Grafana dashboard (JSON).
`archival monitoring --out DIR` writes both; docs/operations.md explains the alert classes.

Alert classes, so that noise and outages page differently:
- transient (severity info/warning, pages nobody): units that needed retries but succeeded; a table
  whose last run failed once (the next scheduled run usually heals it).
- systemic (severity page): a table failed in two runs in a row; every unit of a run failed (a source
  or the archive is down).
- stale (severity page): no successful run of a table within twice its schedule's interval.
- data (severity warning): rows set aside as invalid; data older than its schedule allows."""

from __future__ import annotations

import json
from typing import Any

import yaml

RUNBOOK = "docs/operations.md#{anchor}"


def _alert(name: str, expr: str, severity: str, kind: str, summary: str, anchor: str,
           wait: str | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if wait:
        rule["for"] = wait
    rule["labels"] = {"severity": severity, "class": kind}
    rule["annotations"] = {"summary": summary, "runbook": RUNBOOK.format(anchor=anchor)}
    return rule


def alert_rules() -> dict[str, Any]:
    rules = [
        _alert("ArchivalUnitsRetried", "archival_table_retries > 0 and archival_table_failed == 0", "info",
               "transient", "{{ $labels.table }}: units needed retries, all succeeded", "transient-failures"),
        _alert("ArchivalTableFailedOnce", "archival_table_consecutive_failed_runs == 1", "warning", "transient",
               "{{ $labels.table }}: the last run failed; the next scheduled run retries it", "transient-failures"),
        _alert("ArchivalTableFailing", "archival_table_consecutive_failed_runs >= 2", "page", "systemic",
               "{{ $labels.table }}: failed in {{ $value }} runs in a row", "systemic-failures"),
        _alert("ArchivalRunFailedEverywhere", 'archival_run_success_ratio == 0 and on(project) '
               'archival_run_units{outcome="failed"} > 0', "page", "systemic",
               "{{ $labels.project }}: every unit of the last run failed (a source or the archive is down)",
               "systemic-failures"),
        _alert("ArchivalTableStale", "(time() - archival_table_last_success_timestamp_seconds) > on(project, table) "
               "(2 * archival_table_schedule_seconds)", "page", "stale",
               "{{ $labels.table }}: no successful run within twice its schedule", "stale-tables"),
        _alert("ArchivalRowsQuarantined", "archival_table_quarantined_rows > 0", "warning", "data",
               "{{ $labels.table }}: {{ $value }} rows set aside as invalid in the last run", "quarantined-rows"),
    ]
    return {"groups": [{"name": "archival", "rules": rules}]}


def alert_rules_yaml() -> str:
    return yaml.safe_dump(alert_rules(), sort_keys=False, width=120)


# (title, PromQL, unit): one time series panel each
PANELS = [
    ("Rows written per run", "sum by (table) (archival_table_rows)", "short"),
    ("Throughput (rows per unit-second)", "archival_run_rows_per_second", "short"),
    ("Run duration", "archival_run_duration_seconds", "s"),
    ("Success ratio", "archival_run_success_ratio", "percentunit"),
    ("Failed units", "sum by (table) (archival_table_failed)", "short"),
    ("Runs failed in a row", "max by (table) (archival_table_consecutive_failed_runs)", "short"),
    ("Rows quarantined", "sum by (table) (archival_table_quarantined_rows)", "short"),
    ("Bytes per tier", "sum by (tier) (archival_table_stored_bytes)", "bytes"),
    ("Data age (now - end of the newest archived period)",
     "time() - max by (table) (archival_table_newest_period_end_timestamp_seconds)", "s"),
    ("Since the last successful run", "time() - max by (table) (archival_table_last_success_timestamp_seconds)",
     "s"),
    ("Seconds per stage", "sum by (stage) (archival_table_stage_seconds)", "s"),
]


def grafana_dashboard() -> dict[str, Any]:
    panels = []
    for index, (title, expr, unit) in enumerate(PANELS):
        panels.append({"id": index + 1, "type": "timeseries", "title": title,
                       "datasource": {"type": "prometheus", "uid": "${datasource}"},
                       "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
                       "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                       "targets": [{"refId": "A", "expr": expr, "legendFormat": "__auto"}]})
    return {"title": "archival", "uid": "archival", "schemaVersion": 39, "version": 1, "editable": True,
            "tags": ["archival"], "time": {"from": "now-7d", "to": "now"}, "refresh": "5m",
            "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus",
                                     "label": "Prometheus"}]},
            "panels": panels}


def grafana_dashboard_json() -> str:
    return json.dumps(grafana_dashboard(), indent=2) + "\n"

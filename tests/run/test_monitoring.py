"""The alert rules and the dashboard pass Prometheus' own checks (promtool, Debian's prometheus
package), and rule-evaluation tests show the alert classes apart: a failure that heals pages nobody,
two failed runs in a row page, a table without a successful run for twice its schedule pages."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from archival import cli
from archival.run.monitoring import PANELS, alert_rules_yaml, grafana_dashboard_json
from tests.conftest import IN_CI

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None and not IN_CI, reason="promtool (Debian's prometheus) not installed")

RUNBOOK = "docs/operations.md#"


def _promtool(*args: str, cwd=None) -> subprocess.CompletedProcess:
    assert PROMTOOL, "promtool is missing: .ci/run installs Debian's prometheus package"
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def _alert(labels: dict, summary: str, anchor: str) -> dict:
    return {"exp_labels": labels, "exp_annotations": {"summary": summary, "runbook": RUNBOOK + anchor}}


def test_rules_and_dashboard_queries_pass_promtool(tmp_path, capsys):
    assert cli.main(["monitoring", "--out", str(tmp_path)]) == 0
    checked = _promtool("check", "rules", str(tmp_path / "archival-alerts.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # every dashboard query as a recording rule: promtool parses and checks each one
    dashboard = yaml.safe_load((tmp_path / "archival-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) == len(PANELS) and dashboard["panels"][0]["datasource"]["type"] == "prometheus"
    recording = {"groups": [{"name": "dashboard", "rules": [{"record": f"archival:panel_{i}", "expr": e}
                                                             for i, e in enumerate(exprs)]}]}
    (tmp_path / "dashboard-queries.yml").write_text(yaml.safe_dump(recording))
    checked = _promtool("check", "rules", str(tmp_path / "dashboard-queries.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert grafana_dashboard_json() == (tmp_path / "archival-dashboard.json").read_text()


def test_transient_failures_page_nobody_systemic_and_stale_ones_page(tmp_path):
    (tmp_path / "rules.yml").write_text(alert_rules_yaml())
    p = {"project": "p"}
    flaky, broken = {**p, "table": "d.flaky"}, {**p, "table": "d.broken"}
    series = {  # one value per hourly run; the table's schedule is hourly
        'archival_table_consecutive_failed_runs{project="p",table="d.flaky"}': "0 1 0 0",
        'archival_table_consecutive_failed_runs{project="p",table="d.broken"}': "0 1 2 3",
        'archival_table_failed{project="p",table="d.flaky"}': "0 1 0 0",
        'archival_table_retries{project="p",table="d.flaky"}': "0 0 2 0",
        'archival_table_last_success_timestamp_seconds{project="p",table="d.flaky"}': "0 0 7200 10800",
        'archival_table_last_success_timestamp_seconds{project="p",table="d.broken"}': "0 0 0 0",
        'archival_table_schedule_seconds{project="p",table="d.flaky"}': "3600 3600 3600 3600",
        'archival_table_schedule_seconds{project="p",table="d.broken"}': "3600 3600 3600 3600",
    }
    once = "the last run failed; the next scheduled run retries it"
    tests = [
        # the first failure of each: a warning, no page
        ("1h", "ArchivalTableFailedOnce", [_alert({**t, "severity": "warning", "class": "transient"},
                                                  f"{t['table']}: {once}", "transient-failures")
                                           for t in (broken, flaky)]),
        ("1h", "ArchivalTableFailing", []),
        # the flaky table healed (with retries: info only); the broken one failed again: a page
        ("2h", "ArchivalTableFailing", [_alert({**broken, "severity": "page", "class": "systemic"},
                                               "d.broken: failed in 2 runs in a row", "systemic-failures")]),
        ("2h", "ArchivalTableFailedOnce", []),
        ("2h", "ArchivalUnitsRetried", [_alert({**flaky, "severity": "info", "class": "transient"},
                                               "d.flaky: units needed retries, all succeeded", "transient-failures")]),
        # no success for more than twice the schedule: stale, a page; the flaky table is fresh
        ("2h", "ArchivalTableStale", []),
        ("3h", "ArchivalTableStale", [_alert({**broken, "severity": "page", "class": "stale"},
                                             "d.broken: no successful run within twice its schedule", "stale-tables")]),
    ]
    suite = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1h", "input_series": [{"series": s, "values": v} for s, v in series.items()],
        "alert_rule_test": [{"eval_time": t, "alertname": name, "exp_alerts": alerts} for t, name, alerts in tests]}]}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(suite, sort_keys=False))
    done = _promtool("test", "rules", "tests.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_automations_notify_on_archival_events(tmp_path, prefect_server, demo_project, capsys):
    from prefect import get_client
    from prefect.automations import Automation
    from prefect.blocks.notifications import SlackWebhook

    block = SlackWebhook(url="http://127.0.0.1:9/hook")
    block.save("archival-oncall-test", overwrite=True)
    args = ["automations", "--project-dir", str(demo_project), "--notify-block", "slack-webhook/archival-oncall-test"]
    assert cli.main(args) == 0
    assert cli.main(args) == 0  # a second time: updated, not doubled
    with get_client(sync_client=True) as client:
        made = client.read_automations_by_name("archival helpdesk-demo: a unit failed")
    assert len(made) == 1
    automation = made[0]
    assert automation.trigger.expect == {"archival.unit.failed"}
    assert str(automation.actions[0].block_document_id) == str(block._block_document_id)
    for title in ("the archive differs from the source", "an archive file is damaged"):
        assert Automation.read(name=f"archival helpdesk-demo: {title}") is not None
    capsys.readouterr()
    assert cli.main(["automations", "--project-dir", str(demo_project), "--notify-block", "slack-webhook/nope"]) == 2
    assert "was not found" in capsys.readouterr().err

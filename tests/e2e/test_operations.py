"""Operating runs: quiet hours defer units, quotas drain a backlog at a set pace, --retry-failed
reruns only what failed, and a run leaves OpenMetrics text a Prometheus collector can read."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from prometheus_client.parser import text_string_to_metric_families

from archival import cli
from tests.conftest import write_project

AS_OF = "2026-12-01T00:00:00Z"
SPEC = """domain: shop
owner: o@example.com
source: app
{extra}tables:
  comments: {{relation: ticket_comments, primary_key: [id], mode: window, cursor: created_at, period: quarter}}
  agents: {{relation: agents, primary_key: [id], mode: full}}
"""


@pytest.fixture
def project(tmp_path, small_demo_db):
    def make(extra: str = "", limits: str = ""):
        (tmp_path / "data").mkdir(exist_ok=True)
        shutil.copy(small_demo_db, tmp_path / "data" / "app.db")
        return write_project(tmp_path, "  app: {type: sqlite, path: data/app.db}", {"shop": SPEC.format(extra=extra)},
                             extra=limits)
    return make


def _record(folder):
    runs = sorted((folder / "archive" / "_runs").glob("*.json"))
    return json.loads(runs[-1].read_bytes())


def test_quiet_hours_defer_every_unit(project, prefect_server, capsys):
    folder = project(extra='quiet_hours: ["00:00-24:00"]\n')
    assert cli.main(["run", "--project-dir", str(folder), "--as-of", AS_OF]) == 0
    out = capsys.readouterr().out
    assert "Deferred to the next run:" in out and "quiet hours 00:00-24:00 (UTC)" in out
    assert _record(folder)["totals"]["outcomes"] == {"deferred": 9}  # 8 closed quarters + agents
    assert not (folder / "archive" / "shop").exists()
    capsys.readouterr()
    assert cli.main(["run", "--project-dir", str(folder), "--as-of", AS_OF, "--ignore-quiet-hours"]) == 0
    assert _record(folder)["totals"]["outcomes"] == {"written": 9}  # an operator's override, on purpose


def test_quota_drains_a_backlog_in_order(project, prefect_server, capsys):
    folder = project(limits="limits: {max_parallel_per_source: 1, max_rows_per_run: 1000}\n")
    assert cli.main(["run", "--project-dir", str(folder), "--as-of", AS_OF]) == 0
    first = _record(folder)["totals"]["outcomes"]
    assert first["deferred"] > 0 and first["written"] > 0
    written_rows = _record(folder)["totals"]["rows"]
    assert written_rows >= 1000 and written_rows < 2400  # stopped soon after the quota
    runs = 1
    while _record(folder)["totals"]["outcomes"].get("deferred") and runs < 10:
        assert cli.main(["run", "--project-dir", str(folder), "--as-of", AS_OF]) == 0
        runs += 1
    assert 2 <= runs < 10 and not _record(folder)["totals"]["outcomes"].get("deferred")
    assert cli.main(["verify", "--deep", "--project-dir", str(folder)]) == 0


def test_retry_failed_reruns_only_failed_units(project, prefect_server, capsys, monkeypatch):
    folder = project()
    spec = folder / "specs" / "shop.yaml"
    spec.write_text(spec.read_text() + "  gone: {relation: gone, primary_key: [id], mode: full}\n")
    db = folder / "data" / "app.db"
    sqlite3.connect(db).executescript("CREATE TABLE gone (id INTEGER PRIMARY KEY); INSERT INTO gone VALUES (1)")
    import archival.run.prepare as prepare_module

    real_build = prepare_module.build_plan

    def build_then_rename(*args, **kwargs):
        plan = real_build(*args, **kwargs)
        sqlite3.connect(db).executescript("ALTER TABLE gone RENAME TO gone_for_now")
        return plan

    monkeypatch.setattr(prepare_module, "build_plan", build_then_rename)
    assert cli.main(["run", "--project-dir", str(folder), "--as-of", AS_OF]) == 1
    monkeypatch.setattr(prepare_module, "build_plan", real_build)
    failed_run = _record(folder)["run_id"]
    sqlite3.connect(db).executescript("ALTER TABLE gone_for_now RENAME TO gone")
    capsys.readouterr()
    metrics = folder / "metrics" / "archival.prom"
    assert cli.main(["run", "--project-dir", str(folder), "--as-of", AS_OF, "--retry-failed", failed_run,
                     "--metrics-file", str(metrics)]) == 0
    record = _record(folder)
    assert record["retry_of"] == failed_run
    assert [u["unit_id"] for u in record["units"]] == ["shop.gone/full"]  # archived units were not touched
    families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
    rows = {s.labels["table"]: s.value for s in families["archival_table_rows"].samples}
    assert rows == {"shop.gone": 1.0}
    stages = {s.labels["stage"]: s.value for s in families["archival_table_stage_seconds"].samples
              if s.labels["table"] == "shop.gone"}
    assert set(stages) == {"snapshot", "read", "contract", "fingerprint", "parts", "record"}  # no pii rule
    assert stages["read"] > 0 and stages["record"] > 0
    assert sum(stages.values()) <= families["archival_table_seconds"].samples[0].value
    assert families["archival_run_success_ratio"].samples[0].value == 1.0

"""`archival run` through the Prefect flow on a temporary Prefect server: tasks per unit, the run
record, the table artifact, OpenLineage events, and a failing unit that does not hide the others."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from archival import cli
from tests.conftest import write_project

AS_OF = "2026-12-01T00:00:00Z"
SPEC = """domain: shop
owner: o@example.com
source: app
tables:
  comments: {relation: ticket_comments, primary_key: [id], mode: window, cursor: created_at, period: quarter}
  agents: {relation: agents, primary_key: [id], mode: full}
  labels: {relation: labels, primary_key: [id], mode: full}
"""


@pytest.fixture
def project(tmp_path, small_demo_db):
    (tmp_path / "data").mkdir()
    shutil.copy(small_demo_db, tmp_path / "data" / "app.db")
    return write_project(tmp_path, "  app: {type: sqlite, path: data/app.db}", {"shop": SPEC})


def test_cli_run_records_everything(project, prefect_server, capsys):
    code = cli.main(["run", "--project-dir", str(project), "--as-of", AS_OF])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "TOTAL" in out and "10 written" in out
    runs = list((project / "archive" / "_runs").glob("*.json"))
    assert len(runs) == 1
    record = json.loads(runs[0].read_bytes())
    assert record["totals"]["units"] == 10 and record["totals"]["outcomes"] == {"written": 10}
    events = sorted((project / "archive" / "_lineage" / record["run_id"]).glob("*.json"))
    kinds = [e.name.split("-", 1)[1] for e in events]
    assert kinds.count("START.json") == 10 and kinds.count("COMPLETE.json") == 10
    complete = json.loads(next(e for e in events if e.name.endswith("COMPLETE.json")).read_bytes())
    assert complete["eventType"] == "COMPLETE" and complete["job"]["namespace"] == "archival"
    output = complete["outputs"][0]
    assert output["outputFacets"]["outputStatistics"]["rowCount"] > 0
    assert {f["name"] for f in output["facets"]["schema"]["fields"]} >= {"id"}

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        artifact = client.read_latest_artifacts()  # the run's summary table
    assert any(a.key == "archival-run-test" for a in artifact)


def test_failed_unit_does_not_hide_the_others(project, prefect_server, capsys):
    spec = project / "specs" / "shop.yaml"
    spec.write_text(spec.read_text() + "  gone: {relation: gone, primary_key: [id], mode: full}\n")
    sqlite3.connect(project / "data" / "app.db").executescript("CREATE TABLE gone (id INTEGER PRIMARY KEY)")
    # the plan sees the table; then it disappears before the export reads it
    import archival.run.prepare as prepare_module

    real_build = prepare_module.build_plan

    def build_then_drop(*args, **kwargs):
        plan = real_build(*args, **kwargs)
        sqlite3.connect(project / "data" / "app.db").executescript("DROP TABLE gone")
        return plan

    prepare_module.build_plan = build_then_drop
    try:
        code = cli.main(["run", "--project-dir", str(project), "--as-of", AS_OF])
    finally:
        prepare_module.build_plan = real_build
    out = capsys.readouterr().out
    assert code == 1
    assert "shop.gone/full" in out and "Failed units:" in out and "10 written" in out

"""A unit's export is a list of named stages that the plan decides and shows, and the executor runs
exactly that list: the names the stage clock records are the plan's, in the plan's order."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime

from archival import cli
from archival.plan.build import build_plan
from archival.plan.stages import render_stages, stage_name
from archival.spec.load import load_project
from tests.conftest import write_project
from tests.run.helpers import run_units

SPEC = """domain: app
owner: o@example.com
source: s
tables:
  customers:
    relation: customers
    primary_key: [id]
    mode: full
    columns:
      email: {pii: hash}
      country: {max_length: 2}
  comments: {relation: ticket_comments, primary_key: [id], mode: window, cursor: created_at, period: quarter}
  tickets: {relation: tickets, primary_key: [id], mode: incremental, cursor: [updated_at, created_at],
            period: quarter}
"""
FIRST = datetime(2026, 11, 2, tzinfo=UTC)
SECOND = datetime(2026, 11, 3, tzinfo=UTC)


def _project(tmp_path, small_demo_db):
    (tmp_path / "data").mkdir()
    shutil.copy(small_demo_db, tmp_path / "data" / "app.db")
    return write_project(tmp_path, "  s: {type: sqlite, path: data/app.db}", {"app": SPEC},
                         extra="pii: {hash_key: env:ARCHIVAL_PII_KEY}\n")


def _plan(folder, as_of):
    project = load_project(folder)
    return build_plan(project, list(project.domains[0].tables), as_of=as_of)


def _late_comment(folder):
    with sqlite3.connect(folder / "data" / "app.db") as db:
        db.execute("INSERT INTO ticket_comments VALUES (999999, 1, NULL, 'late', 0, '2025-02-02 02:02:02', NULL)")


def _names(unit):
    return [stage_name(s) for s in unit.stages]


def test_stage_lists_follow_what_each_unit_must_do(tmp_path, small_demo_db):
    folder = _project(tmp_path, small_demo_db)
    plan = _plan(folder, FIRST)
    by_id = {u.id: u for u in plan.units}
    assert _names(by_id["app.customers/full"]) == ["snapshot", "read", "contract", "pii", "fingerprint", "parts",
                                                    "record"]
    assert _names(by_id["app.comments/2025-Q1"]) == ["snapshot", "read", "contract", "fingerprint", "parts", "record"]
    assert by_id["app.comments/2025-Q1"].stages[1].key_checksum  # a window period's keys are checksummed
    run_units(folder, FIRST)
    _late_comment(folder)
    by_id = {u.id: u for u in _plan(folder, SECOND).units}
    late = by_id["app.comments/2025-Q1"]
    assert late.delta and _names(late) == ["snapshot", "read", "versions", "departures", "contract", "fingerprint",
                                           "parts", "record"]
    last = [u for u in by_id.values() if u.table == "tickets"][-1]
    assert _names(last) == ["snapshot", "read", "versions", "departures", "contract", "fingerprint", "parts", "record"]
    assert last.stages[3].scope == "table"  # an incremental key moves between periods: the whole table


def test_the_executor_runs_the_list_the_plan_shows(tmp_path, small_demo_db, capsys):
    folder = _project(tmp_path, small_demo_db)
    run_units(folder, FIRST)
    _late_comment(folder)
    plan = _plan(folder, SECOND)
    _, results = run_units(folder, SECOND)
    planned = {u.id: u for u in plan.due}
    assert {r.unit_id for r in results} == set(planned) and len(results) >= 3
    for result in results:
        assert list(result.stages) == _names(planned[result.unit_id]), result.unit_id
    assert cli.main(["plan", "-v", "--project-dir", str(folder), "--as-of", SECOND.isoformat(),
                     "-s", "table:app.comments"]) == 0
    out = capsys.readouterr().out
    assert render_stages(planned["app.comments/2025-Q1"].stages) in out
    assert cli.main(["plan", "-vv", "--project-dir", str(folder), "--as-of", SECOND.isoformat(),
                     "-s", "table:app.comments"]) == 0
    assert "3. versions: only versions the period lacks" in capsys.readouterr().out

"""A cursor value in year 1 or year 9999 neither stretches the calendar (one such row made a window
table plan 24,310 monthly units) nor vanishes (rows dated in the far future were never exported):
such rows are counted and reported by the plan and go to `on_invalid` in `period=out_of_range`."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

import psycopg
import pytest

from archival.archive.store import LocalStore
from archival.check.contract import ContractError
from archival.plan.build import build_plan
from archival.spec.load import load_project
from archival.verify.check import verify_archive
from archival.verify.reconcile import reconcile_project
from tests.conftest import write_project
from tests.run.helpers import run_units

AS_OF = datetime(2025, 7, 1, 12, tzinfo=UTC)
ROWS = [(i, datetime(2025, 1 + i % 6, 1 + i % 27, 10, 0, 0)) for i in range(1, 61)]
OUTLIERS = [(61, datetime(1, 1, 1, 0, 0, 0)), (62, datetime(9999, 12, 31, 23, 59, 59))]
SPEC = """domain: app
owner: o@example.com
source: db
tables:
  events:
    relation: events
    primary_key: [id]
    mode: window
    cursor: created_at
    period: month
    on_invalid: {policy}
  items:
    relation: events
    primary_key: [id]
    mode: incremental
    cursor: created_at
    period: month
    on_invalid: {policy}
"""


@pytest.fixture(params=["sqlite", "postgres"])
def source(request, tmp_path, monkeypatch):
    """Writes rows into the `events` table of a fresh source; returns (write, project maker)."""
    if request.param == "sqlite":
        (tmp_path / "data").mkdir()
        path = tmp_path / "data" / "app.db"
        with sqlite3.connect(path) as con:
            con.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, created_at DATETIME)")

        def write(rows):
            with sqlite3.connect(path) as con:
                con.executemany("INSERT INTO events VALUES (?, ?)", [(i, t.isoformat(sep=" ")) for i, t in rows])
        line = "  db: {type: sqlite, path: data/app.db}"
    else:
        dsn = request.getfixturevalue("pg_dsn")
        monkeypatch.setenv("APP_DSN", dsn)
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute("CREATE TABLE events (id int PRIMARY KEY, created_at timestamp)")

        def write(rows):
            with psycopg.connect(dsn, autocommit=True) as con:
                con.cursor().executemany("INSERT INTO events VALUES (%s, %s)", rows)
        line = "  db: {type: postgres, dsn: env:APP_DSN}"
    write(ROWS)
    return write, lambda policy: write_project(tmp_path, line, {"app": SPEC.format(policy=policy)})


def _plan(folder):
    project = load_project(folder)
    return build_plan(project, list(project.domains[0].tables), as_of=AS_OF)


def test_outliers_add_one_reported_unit_and_leave_the_calendar_alone(source):
    write, make = source
    folder = make("quarantine")
    calendar = [u.id for u in _plan(folder).units]
    write(OUTLIERS)
    plan = _plan(folder)
    assert [u.id for u in plan.units if u.period != "out_of_range"] == calendar
    assert [u.id for u in plan.units if u.period == "out_of_range"] == ["app.events/out_of_range",
                                                                        "app.items/out_of_range"]
    warning = next(n for n in plan.notes if n.table == "app.events" and n.level == "warning").message
    assert warning.startswith("2 row(s) with a cursor outside the plausible range [1970-01-01T00:00:00+00:00, ")
    assert "earliest 0001-01-01T00:00:00+00:00, latest 9999-12-31T23:59:59+00:00" in warning


def test_quarantine_sets_outliers_aside_and_reruns_change_nothing(source):
    write, make = source
    write(OUTLIERS)
    folder = make("quarantine")
    _, results = run_units(folder, AS_OF)
    outside = {r.unit_id: r for r in results if r.unit_id.endswith("/out_of_range")}
    for result in outside.values():
        manifest = json.loads((folder / "archive" / result.manifest).read_bytes())
        assert (manifest["row_count"], manifest["quarantined_rows"], manifest["watermark"]) == (0, 2, None)
        assert manifest["contract"]["violations"] == {"cursor (created_at): outside the plausible range": 2}
    assert sum(r.rows for r in results if r.unit_id.startswith("app.events/")) == 60
    assert verify_archive(LocalStore(folder / "archive"), deep=True).ok
    project = load_project(folder)
    periods, _ = reconcile_project(project, list(project.domains[0].tables))
    assert {p.status for p in periods} == {"ok"}
    _, again = run_units(folder, AS_OF)
    assert {r.outcome for r in again} == {"unchanged"}
    # the incremental table's watermark is the calendar's, not the out-of-range window's end
    items = [u for u in _plan(folder).units if u.table == "items" and u.period != "out_of_range"]
    assert items[-1].window.end == AS_OF - load_project(folder).domains[0].tables[1].lag.delta


def test_fail_and_warn(source):
    write, make = source
    write(OUTLIERS)
    with pytest.raises(ContractError, match=r"row id=61: cursor \(created_at\): outside the plausible range"):
        run_units(make("fail"), AS_OF, select=["table:app.events"])
    folder = make("warn")
    _, results = run_units(folder, AS_OF, select=["table:app.events"])
    outside = next(r for r in results if r.unit_id == "app.events/out_of_range")
    assert outside.rows == 2 and outside.details["violations"] == {
        "cursor (created_at): outside the plausible range": 2}

"""Related tables on MariaDB and SQLite are read in one transaction on one connection, so an app that
deletes a parent with its children while the export runs leaves no orphan in the archive that the
source never had. The negative control runs the same race with the shared transaction switched off:
the child rows are read before the delete, the parents after it, and the orphan appears."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import duckdb
import pymysql
import pytest

import archival.plan.compile as compile_module
import archival.run.work as work_module
from tests.conftest import MYSQL, write_project
from tests.run.helpers import archived_sql, run_units

AS_OF = datetime(2026, 4, 1, tzinfo=UTC)
SPEC = """domain: app
owner: o@example.com
source: s
tables:
  child: {relation: child, primary_key: [id], mode: full}
  parent: {relation: parent, primary_key: [id], mode: full}
relations:
  - {from: child.parent_id, to: parent.id}
"""


@pytest.fixture(params=["mysql", "sqlite"])
def source(request, tmp_path, monkeypatch):
    """A source with parents 1-3 and two children each; returns (execute SQL on it, project folder)."""
    statements = ["CREATE TABLE parent (id INTEGER PRIMARY KEY, name VARCHAR(20))",
                  "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER)",
                  "INSERT INTO parent VALUES (1, 'a'), (2, 'b'), (3, 'c')",
                  "INSERT INTO child VALUES (10, 1), (11, 1), (20, 2), (21, 2), (30, 3), (31, 3)"]
    if request.param == "mysql":
        name, dsn = request.getfixturevalue("mysql_db")
        monkeypatch.setenv("SHARED_DSN", dsn)

        def execute(*sql):
            con = pymysql.connect(**MYSQL, database=name, autocommit=False)
            with con.cursor() as cur:
                for statement in sql:
                    cur.execute(statement)
            con.commit()
            con.close()
        line = "  s: {type: mysql, dsn: env:SHARED_DSN}"
    else:
        path = tmp_path / "app.db"
        sqlite3.connect(path).execute("PRAGMA journal_mode=WAL")  # writers go on while the export reads

        def execute(*sql):
            with sqlite3.connect(path) as con:
                for statement in sql:
                    con.execute(statement)
        line = "  s: {type: sqlite, path: app.db}"
    execute(*statements)
    return execute, write_project(tmp_path, line, {"app": SPEC})


def _race(monkeypatch, execute):
    """After the child table is read, the app deletes parent 1 with its children, in one transaction."""
    real = work_module.export_unit

    def export_then_delete(ctx, unit, lineage=None, connection=None):
        result = real(ctx, unit, lineage, connection)
        if unit.table == "child":
            execute("DELETE FROM child WHERE parent_id = 1", "DELETE FROM parent WHERE id = 1")
        return result
    monkeypatch.setattr(work_module, "export_unit", export_then_delete)


def _orphans(folder) -> int:
    return duckdb.sql(f"SELECT count(*) FROM {archived_sql(folder, 'app', 'child')} c "
                      f"ANTI JOIN {archived_sql(folder, 'app', 'parent')} p ON c.parent_id = p.id").fetchone()[0]


def test_related_tables_are_read_as_of_one_instant(source, monkeypatch):
    execute, folder = source
    _race(monkeypatch, execute)
    _, results = run_units(folder, AS_OF)
    assert [r.unit_id for r in results] == ["app.child/full", "app.parent/full"]
    assert _orphans(folder) == 0  # both tables as of before the delete: 6 children, 3 parents


def test_without_the_shared_transaction_the_race_leaves_an_orphan(source, monkeypatch):
    execute, folder = source
    _race(monkeypatch, execute)
    monkeypatch.setattr(compile_module, "shared_transaction", lambda *args: None)
    run_units(folder, AS_OF)
    assert _orphans(folder) == 2  # children 10 and 11 point at a parent the archive lacks

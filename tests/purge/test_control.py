"""Load control and the edges around a purge: quiet hours stop it before a batch, per-table and
per-run row limits, a lagging replica stops a table, a changed spec never re-reads a purged period
(its rows exist only in the archive), and verify finds a damaged purge record."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from archival import cli
from archival.plan.build import build_plan
from archival.purge import period as purge_period
from archival.purge.session import PurgeSession
from archival.spec.load import load_project
from tests.conftest import write_project
from tests.purge.demo import AS_OF, prepare_demo
from tests.run.helpers import run_units


@pytest.fixture
def demo(demo_project, small_demo_db, monkeypatch):
    """The domain is quiet all day; tickets purge at most 7 rows a run."""
    return prepare_demo(demo_project, small_demo_db, monkeypatch, lambda text: text.replace(
        'quiet_hours: ["07:00-20:00"]', 'quiet_hours: ["00:00-24:00"]').replace(
        "purge: {after: 180d, batch_rows: 40,", "purge: {after: 180d, max_rows_per_run: 7, batch_rows: 40,"))


def _purge(folder, capsys, *extra) -> dict:
    capsys.readouterr()
    assert cli.main(["purge", "--json", "--as-of", AS_OF.isoformat(), "--project-dir", str(folder), *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_quiet_hours_and_row_limits(demo, capsys):
    quiet = _purge(demo, capsys)  # the domain is quiet all day: nothing is deleted, the run says why
    assert quiet["deleted"] == 0 and quiet["stopped"].startswith("quiet hours (00:00-24:00)")
    assert quiet["record"] is None

    limited = _purge(demo, capsys, "--ignore-quiet-hours", "--max-rows", "150")
    assert limited["deleted"] == 150
    tickets = sum(p["deleted"] for p in limited["periods"] if p["table"] == "helpdesk.tickets")
    assert tickets <= 7  # max_rows_per_run of the table
    assert any(p["kept"].get("over the run's row limit") for p in limited["periods"])


def test_a_purged_period_is_not_re_read_under_a_new_spec(demo, capsys):
    _purge(demo, capsys, "--ignore-quiet-hours")
    spec = demo / "specs" / "helpdesk.yaml"
    spec.write_text(spec.read_text().replace("      body: {type: string, max_length: 20000}",
                                             "      body: {type: string, max_length: 30000}"))
    project = load_project(demo)
    plan = build_plan(project, list(project.domains[0].tables), as_of=AS_OF)
    comments = [u for u in plan.units if u.table == "ticket_comments"]
    notes = [n.message for n in plan.notes if "purged from the source" in n.message]
    assert notes and all("is not re-read" in n for n in notes)
    purged = {n.split(":")[0].removeprefix("period ") for n in notes}
    assert purged and not purged & {u.period for u in comments}, "a purged period would be re-read"


def test_verify_finds_a_damaged_purge_batch(demo, capsys):
    _purge(demo, capsys, "--ignore-quiet-hours")
    batch = next((demo / "archive" / "_purges").rglob("*.parquet"))
    batch.write_bytes(batch.read_bytes()[:-10] + b"0123456789")
    capsys.readouterr()
    assert cli.main(["verify", "--project-dir", str(demo)]) == 1
    assert "purge batch of run" in capsys.readouterr().err


SPEC = """domain: app
owner: o@example.com
source: app
tables:
  events:
    relation: public.events
    primary_key: [id]
    mode: window
    cursor: created_at
    period: month
    purge: {after: 30d, pause: 0s, max_replica_lag: 5s}
"""


def test_a_lagging_replica_stops_the_table(pg_dsn, tmp_path, monkeypatch, capsys):
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("CREATE TABLE events (id int PRIMARY KEY, created_at timestamptz NOT NULL)")
        con.execute("INSERT INTO events SELECT g, timestamptz '2025-01-01' + g * interval '1 hour' "
                    "FROM generate_series(1, 500) g")
    monkeypatch.setenv("APP_DSN", pg_dsn)
    folder = write_project(tmp_path, "  app: {type: postgres, dsn: env:APP_DSN, purge_dsn: env:APP_DSN}",
                           {"app": SPEC})
    run_units(folder, datetime(2026, 1, 1, tzinfo=UTC))
    monkeypatch.setattr(purge_period, "LAG_POLL_SECONDS", 0.0)
    monkeypatch.setattr(PurgeSession, "replica_lag", lambda self: 42.0)
    capsys.readouterr()
    assert cli.main(["purge", "--json", "--project-dir", str(folder), "--as-of", "2026-01-01T00:00:00Z"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["deleted"] == 0 and report["stopped"] == "a replica lags 42s, above max_replica_lag 5s"
    monkeypatch.setattr(PurgeSession, "replica_lag", lambda self: 1.0)
    assert cli.main(["purge", "--json", "--project-dir", str(folder), "--as-of", "2026-01-01T00:00:00Z"]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"] == 500


def test_a_damaged_archive_purges_nothing(demo, capsys):
    import sqlite3

    def rows() -> int:
        with sqlite3.connect(demo / "data" / "helpdesk.db") as con:
            return con.execute("SELECT count(*) FROM ticket_comments").fetchone()[0]

    count = rows()
    part = sorted((demo / "archive" / "helpdesk" / "ticket_comments").glob("period=2025-01/*.parquet"))[0]
    original = part.read_bytes()
    part.write_bytes(original[:-20] + b"x" * 20)
    capsys.readouterr()
    args = ["purge", "--as-of", AS_OF.isoformat(), "--ignore-quiet-hours", "--project-dir", str(demo)]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "period=2025-01" in err and "is damaged" in err and rows() == count

    part.write_bytes(original)  # a manifest edited outside a run: not in the audit chain with that sha256
    manifest = sorted((demo / "archive" / "helpdesk" / "ticket_comments" / "_manifests").glob("period=2024-12/*"))[-1]
    manifest.write_text(manifest.read_text().replace('"row_count"', '"row_count" ', 1))
    assert cli.main(args) == 1
    assert "not recorded in the audit chain" in capsys.readouterr().err and rows() == count

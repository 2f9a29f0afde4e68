"""`archival query`: on the demo helpdesk after edits, hard deletes and new rows between two runs,
`select count(*) from helpdesk.X` equals the source's count for every table (full, window and
incremental), `__versions` holds every archived version, and files that are not part of a current
manifest (a stray copy, an interrupted write's leftover, an older version) change no view. Local and
S3 archives alike (S3 through DuckDB's httpfs extension against moto's server)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from contextlib import closing
from datetime import UTC, datetime

import pytest

from archival import cli
from tests.run.helpers import run_units

FIRST, SECOND = datetime(2026, 11, 26, 12, tzinfo=UTC), datetime(2026, 12, 15, 12, tzinfo=UTC)
TABLES = {"agents": "agents", "labels": "labels", "customers": "customers", "tickets": "tickets",
          "ticket_comments": "ticket_comments", "ticket_labels": "_nc_m2m_tickets_labels"}


@pytest.fixture
def demo(demo_project, small_demo_db, monkeypatch):
    monkeypatch.setenv("ARCHIVAL_PII_KEY", "k" * 32)
    (demo_project / "data").mkdir()
    shutil.copy(small_demo_db, demo_project / "data" / "helpdesk.db")
    return demo_project


def _edit(db) -> None:
    """What the app does between the runs: edits, hard deletes, new rows (NocoDB's way: app-set UTC stamps)."""
    with closing(sqlite3.connect(db)) as con, con:
        con.execute("UPDATE tickets SET status = 'closed', updated_at = '2026-12-02 10:00:00' WHERE id % 7 = 0")
        con.execute("DELETE FROM tickets WHERE id % 11 = 0")
        con.execute("DELETE FROM _nc_m2m_tickets_labels WHERE tickets_id % 11 = 0")
        con.execute("DELETE FROM customers WHERE id % 13 = 0")
        con.execute("UPDATE agents SET team = 'night' WHERE id = 1")
        con.execute("INSERT INTO tickets (id, title, status, priority, created_at) SELECT id + 100000, title, 'new', "
                    "'low', '2026-12-03 08:00:00' FROM tickets WHERE id % 5 = 0")
        con.execute("INSERT INTO ticket_comments (id, tickets_id, body, created_at) SELECT id + 1000000, tickets_id, "
                    "'late reply', '2026-11-28 09:00:00' FROM ticket_comments WHERE id % 9 = 0")


def _query(folder, capsys, sql: str, *extra: str) -> list[dict]:
    capsys.readouterr()
    assert cli.main(["query", "--project-dir", str(folder), *extra, "--format", "json", "--sql", sql]) == 0
    return json.loads(capsys.readouterr().out)


def _source_counts(db) -> dict[str, int]:
    with closing(sqlite3.connect(db)) as con:
        return {t: con.execute(f"SELECT count(*) FROM {r}").fetchone()[0] for t, r in TABLES.items()}


def _view_counts(folder, capsys, *extra: str) -> dict[str, int]:
    sql = " UNION ALL ".join(f"SELECT '{t}' AS t, count(*) AS n FROM helpdesk.{t}" for t in TABLES)
    return {r["t"]: r["n"] for r in _query(folder, capsys, sql, *extra)}


def test_views_count_what_the_source_holds_after_edits_and_deletes(demo, capsys):
    db = demo / "data" / "helpdesk.db"
    run_units(demo, FIRST)
    _edit(db)
    run_units(demo, SECOND)
    expected = _source_counts(db)
    assert _view_counts(demo, capsys) == expected

    versions = _query(demo, capsys, "SELECT count(*) AS n, count(DISTINCT id) AS keys, min(__version) AS v "
                                    "FROM helpdesk.tickets__versions")[0]
    with closing(sqlite3.connect(db)) as con:
        ever = con.execute("SELECT count(*) FROM tickets").fetchone()[0] + len(range(11, 800 + 1, 11))
    assert versions["keys"] == ever and versions["n"] > versions["keys"] and versions["v"] == 1
    changed = _query(demo, capsys, "SELECT count(*) AS n FROM helpdesk.agents__versions")[0]["n"]
    assert changed == 2 * expected["agents"]  # a full table: each changed snapshot is a version of its own

    archive = demo / "archive" / "helpdesk"
    some = next((archive / "tickets").rglob("*.parquet"))
    shutil.copy(some, some.with_name("stray.parquet"))
    shutil.copy(some, some.with_name(".tmp-interrupted.parquet"))
    shutil.copy(next((archive / "ticket_comments").rglob("*.parquet")), archive / "customers" / "stray.parquet")
    assert _view_counts(demo, capsys) == expected


def test_views_of_an_s3_archive(demo, capsys, moto_endpoint, monkeypatch):
    import boto3

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    bucket = f"query-{os.getpid()}-{time.monotonic_ns()}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    text = (demo / "archival.yaml").read_text()
    assert "default: local" in text
    text = text.replace("default: local", "default: s3").replace(
        "  targets:\n", f"  targets:\n    s3: {{type: s3, bucket: {bucket}, endpoint_url: {moto_endpoint}, "
                        f"allow_http: true}}\n", 1)
    (demo / "archival.yaml").write_text(text)
    db = demo / "data" / "helpdesk.db"
    run_units(demo, FIRST)
    _edit(db)
    run_units(demo, SECOND)
    assert _view_counts(demo, capsys) == _source_counts(db)
    assert not (demo / "archive").exists()


def test_a_duckdb_file_named_like_a_domain_is_refused(demo, capsys):
    run_units(demo, FIRST)
    target = demo / "helpdesk.duckdb"
    assert cli.main(["query", "--project-dir", str(demo), "--duckdb-file", str(target)]) == 2
    assert "DuckDB names the database after the file, so helpdesk.<table> would be ambiguous" in \
        capsys.readouterr().err
    assert not target.exists()

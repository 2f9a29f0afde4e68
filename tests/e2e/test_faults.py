"""A source connection killed mid-extract (pg_terminate_backend, as a server restart or a network
reset would): the unit fails, nothing is published, the task retries with backoff and finishes; the
archive holds every row once and the run record shows the retry."""

from __future__ import annotations

import json
import threading
import time

import duckdb
import psycopg

from archival import cli
from tests.conftest import write_project


def test_killed_source_connections_are_retried(pg_dsn, tmp_path, monkeypatch, prefect_server, capsys):
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("CREATE TABLE big_events AS SELECT g AS id, md5(g::text) AS body, repeat('x', 200) AS pad "
                    "FROM generate_series(1, 400000) g")
        con.execute("ALTER TABLE big_events ADD PRIMARY KEY (id)")
    monkeypatch.setenv("FAULT_DSN", pg_dsn)
    folder = write_project(tmp_path, "  pg: {type: postgres, dsn: env:FAULT_DSN}", {"big": """domain: big
owner: o@example.com
source: pg
tables:
  events: {relation: public.big_events, primary_key: [id], mode: full}
"""})
    killed: list[int] = []

    def killer():
        dbname = pg_dsn.rsplit("dbname=", 1)[1]
        with psycopg.connect(pg_dsn, autocommit=True) as con:
            deadline = time.monotonic() + 60
            while not killed and time.monotonic() < deadline:
                # the unit's read (ordered by key), not the plan's probe, which asks again on its own
                rows = con.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
                                   "AND query ILIKE '%%big_events%%ORDER BY%%' AND pid <> pg_backend_pid()",
                                   (dbname,)).fetchall()
                for (pid,) in rows:
                    con.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    killed.append(pid)
                time.sleep(0.01)

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        code = cli.main(["run", "--project-dir", str(folder), "--as-of", "2026-12-01T00:00:00Z"])
    finally:
        thread.join()
    out = capsys.readouterr().out
    assert killed, "the export finished before a connection could be killed"
    assert code == 0, out
    record = json.loads(next((folder / "archive" / "_runs").glob("*.json")).read_bytes())
    unit = record["units"][0]
    assert unit["outcome"] == "written" and unit["details"]["attempts"] >= 2  # the summary shows the retry
    count, distinct = duckdb.sql(f"SELECT count(*), count(DISTINCT id) FROM read_parquet("
                                 f"'{folder}/archive/big/events/*/*.parquet')").fetchone()
    assert (count, distinct) == (400000, 400000)
    assert len(list((folder / "archive").rglob("v*.json"))) == 1  # one manifest: the failed attempt published none
    assert cli.main(["verify", "--deep", "--project-dir", str(folder)]) == 0

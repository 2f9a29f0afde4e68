"""Crashes: a process killed (SIGKILL) while writing parts, and a failure after the files are
published but before the manifest. Neither may leave a partial file under a final name, a manifest
for unfinished work, or duplicates after the rerun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import duckdb
import psycopg
import pytest

from archival.archive.store import LocalStore
from archival.verify.check import verify_archive
from tests.conftest import ROOT, write_project
from tests.run.helpers import run_units

AS_OF = datetime(2026, 4, 10, tzinfo=UTC)
SPEC = """domain: big
owner: o@example.com
source: pg
tables:
  events: {relation: public.events, primary_key: [id], mode: full}
"""
CHILD = """
import sys
from datetime import datetime, UTC
from pathlib import Path
from archival.run.context import Tuning
from tests.run.helpers import run_units
run_units(Path(sys.argv[1]), datetime(2026, 4, 10, tzinfo=UTC),
          tuning=Tuning(batch_rows=2000, row_group_rows=5000, target_file_bytes=100_000))
"""


@pytest.fixture
def big_table(pg_dsn, tmp_path, monkeypatch):
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("CREATE TABLE events AS SELECT g AS id, md5(g::text) AS body, "
                    "now() - (g || ' seconds')::interval AS at FROM generate_series(1, 300000) g")
        con.execute("ALTER TABLE events ADD PRIMARY KEY (id)")
    monkeypatch.setenv("BIG_DSN", pg_dsn)
    return write_project(tmp_path, "  pg: {type: postgres, dsn: env:BIG_DSN}", {"big": SPEC})


def _published(folder):
    return sorted(p for p in (folder / "archive").rglob("*") if p.is_file() and ".work" not in p.parts)


def test_sigkill_while_writing_then_rerun_completes_exactly(big_table):
    folder = big_table
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(folder)], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            temps = list((folder / "archive" / ".work").rglob("part-*.tmp")) if (folder / "archive").exists() else []
            if len(temps) >= 2:  # one part finished, the next one half-written
                break
            assert child.poll() is None, "the export finished before it could be killed"
            time.sleep(0.02)
        else:
            pytest.fail("no part file appeared in time")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    # nothing under a final name: no data file, no manifest, no audit entry
    assert [p for p in _published(folder) if "/period=" in p.as_posix() or "_audit" in p.parts] == []

    _, results = run_units(folder, AS_OF)
    assert [r.outcome for r in results] == ["written"] and results[0].rows == 300000
    report = verify_archive(LocalStore(folder / "archive"), deep=True)
    assert report.ok, report.findings
    ids = duckdb.sql(f"SELECT count(*), count(DISTINCT id) FROM read_parquet('{folder}/archive/big/events/*/*.parquet')"
                     ).fetchone()
    assert ids == (300000, 300000)


def test_crash_after_files_before_manifest_is_adopted(big_table, monkeypatch):
    folder = big_table
    import archival.record.commit as commit_module

    def crash(*_args, **_kwargs):
        raise RuntimeError("simulated crash between files and manifest")

    with monkeypatch.context() as patched:
        patched.setattr(commit_module, "publish_manifest", crash)
        with pytest.raises(RuntimeError):
            run_units(folder, AS_OF)
    files_before = [p for p in _published(folder) if "/period=" in p.as_posix()]
    assert files_before and not list((folder / "archive").rglob("v000001.json"))

    _, results = run_units(folder, AS_OF)
    assert results[0].outcome == "written" and results[0].version == 1
    manifest = json.loads((folder / "archive" / results[0].manifest).read_bytes())
    assert sorted(str(folder / "archive" / f["path"]) for f in manifest["files"]) == sorted(map(str, files_before))
    assert verify_archive(LocalStore(folder / "archive"), deep=True).ok

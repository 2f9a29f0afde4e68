"""SIGKILL at every boundary of the record stage (parts published, orphans set aside, manifest
written, audit entry appended, run record written), with and without a change in the source before
the rerun. After the rerun `verify --deep` passes and every file in a table's data folders is named by
its period's current manifest: a part that a killed attempt left is set aside (and recorded), a
manifest that lost its audit entry gets one. No crash leaves a state that only a human can mend."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from archival.archive.leftovers import period_folders
from archival.archive.state import archived_periods
from archival.archive.store import LocalStore
from archival.verify.check import verify_archive
from tests.conftest import ROOT, write_project
from tests.run.helpers import run_units

T0 = datetime(2026, 3, 10, 12)
SPEC = """domain: app
owner: o@example.com
source: s
tables:
  events: {relation: events, primary_key: [id], mode: window, cursor: created_at, period: day, lag: 0s}
  items: {relation: items, primary_key: [id], mode: incremental, cursor: [updated_at, created_at], period: day,
          lag: 0s, lookback: 2h}
"""
CHILD = """
import sys
from datetime import datetime
from pathlib import Path
from tests.run.helpers import run_units
run_units(Path(sys.argv[1]), datetime.fromisoformat(sys.argv[2]))
"""
POINTS = ["record:parts", "record:orphans", "record:manifest", "record:audit", "run:record"]


@pytest.fixture
def project(tmp_path):
    db = sqlite3.connect(tmp_path / "app.db", isolation_level=None)
    db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, created_at DATETIME, v TEXT)")
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, created_at DATETIME, updated_at DATETIME, v TEXT)")
    db.executemany("INSERT INTO events VALUES (?, ?, 'e')", [(i, T0 + timedelta(minutes=i)) for i in range(1, 40)])
    db.executemany("INSERT INTO items VALUES (?, ?, NULL, 'i')", [(i, T0 + timedelta(minutes=i)) for i in range(1, 40)])
    write_project(tmp_path, "  s: {type: sqlite, path: app.db}", {"app": SPEC})
    run_units(tmp_path, datetime(2026, 3, 11, 1, tzinfo=UTC))  # a complete first archive
    return tmp_path, db


def _app_works(db, tag: str) -> None:
    """Late rows in a closed day, a delete there, edits and an insert: work for both tables."""
    db.execute("INSERT INTO events VALUES (?, ?, ?)", (100 + len(tag), T0 + timedelta(hours=3), tag))
    db.execute("DELETE FROM events WHERE id = (SELECT min(id) FROM events)")
    db.execute("UPDATE items SET v = ?, updated_at = ? WHERE id <= 5", (tag, T0 + timedelta(days=1, hours=1)))
    db.execute("DELETE FROM items WHERE id = (SELECT max(id) FROM items)")


def _crash(folder, point: str, unit: str, as_of: datetime) -> None:
    child = subprocess.run([sys.executable, "-c", CHILD, str(folder), as_of.isoformat()], cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": str(ROOT), "ARCHIVAL_FAILPOINT": f"{point}@{unit}"
                                if point.startswith("record:") else point}, capture_output=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]


def _unnamed(folder) -> list[str]:
    """Files in a period's folders that its current manifest does not name."""
    store, found = LocalStore(folder / "archive"), []
    for table in ("events", "items"):
        for period, current in archived_periods(store, "app", table).items():
            manifest = current.manifest
            named = {f.path for f in [*manifest.files, *manifest.tombstones, *manifest.quarantine]}
            for prefix in period_folders("app", table, period):
                found += [p for p in store.list(prefix, hidden=True) if p not in named]
    return found


@pytest.mark.parametrize("change", [False, True], ids=["same source", "source changed"])
@pytest.mark.parametrize("point", POINTS)
def test_a_rerun_after_sigkill_finishes_what_the_crash_left(project, point, change):
    folder, db = project
    _app_works(db, "before")
    second = datetime(2026, 3, 11, 13, 30, tzinfo=UTC)
    _crash(folder, point, "app.events/2026-03-10", second)
    if change:
        _app_works(db, "after the crash")
    _, results = run_units(folder, second + timedelta(minutes=5))
    assert "failed" not in {r.outcome for r in results}
    report = verify_archive(LocalStore(folder / "archive"), deep=True)
    assert report.ok, [str(f) for f in report.findings]
    assert _unnamed(folder) == []
    entries = [json.loads(p.read_bytes()) for p in sorted((folder / "archive" / "_audit").glob("*.json"))]
    moved = [f for e in entries if e["action"] == "set_aside" for f in e["files"]]
    for entry in moved:  # what was set aside is kept, where the audit entry says
        assert (folder / "archive" / entry["moved_to"]).is_file()
    if change and point in ("record:parts", "record:orphans"):
        assert moved  # the killed attempt's parts named rows the source no longer holds as they were

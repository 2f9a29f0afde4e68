"""A unit reads the manifests it builds on (its own period's and the latest period's), not every
period's: a daily table's backfill read O(periods^2) manifests (396 daily units: 21.5 -> 13.6 s).
Only the latest period's unit reads them all, for the table-wide hard-delete check."""

from __future__ import annotations

import sqlite3
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime

import archival.archive.state as state
from archival.plan.refresh import Refresh
from tests.conftest import write_project
from tests.run.helpers import run_units

PERIODS = 24
AS_OF = datetime(2027, 2, 1, tzinfo=UTC)
SPEC = """domain: shop
owner: o@example.com
source: app
tables:
  events: {relation: events, primary_key: [id], mode: window, cursor: created_at, period: month, lag: 0s}
"""


def test_each_unit_reads_two_manifests_and_the_latest_reads_all(tmp_path, monkeypatch):
    with closing(sqlite3.connect(tmp_path / "app.db")) as con:
        con.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, created_at TIMESTAMP, name TEXT)")
        con.executemany("INSERT INTO events VALUES (?, ?, ?)",
                        [(m * 10 + i, f"{2025 + m // 12}-{m % 12 + 1:02d}-15 12:00:00", f"e{m}-{i}")
                         for m in range(PERIODS) for i in range(3)])
        con.commit()
    folder = write_project(tmp_path, "  app: {type: sqlite, path: app.db}", {"shop": SPEC})
    _, first = run_units(folder, AS_OF)
    periods = sum(r.outcome == "written" for r in first)
    assert periods >= PERIODS  # and the open month, empty
    with closing(sqlite3.connect(tmp_path / "app.db")) as con:  # a change in every period, refreshed
        con.execute("UPDATE events SET name = name || '!'")
        con.commit()

    reads: Counter = Counter()
    read = state.read_manifest

    def counted(store, path):
        reads[path.split("/period=")[1].split("/")[0]] += 1
        return read(store, path)

    monkeypatch.setattr(state, "read_manifest", counted)
    _, again = run_units(folder, AS_OF, refresh=Refresh("the app rewrote every row"))
    assert sum(r.outcome == "written" for r in again) == PERIODS
    # the plan reads each period's current manifest once; each unit its own; every unit the latest
    # period's (what drift is measured against, unless it has its own); the latest unit all of them
    assert max(reads.values()) <= PERIODS + 3
    assert sum(reads.values()) <= 3 * PERIODS + periods + 2, reads  # every unit reading every period: ~PERIODS**2

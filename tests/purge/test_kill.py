"""SIGKILL a purge at 10 random points (after the locks, after the batch's keys are recorded, after
the DELETE before COMMIT, after COMMIT, before the run record), rerun it, and after each rerun: every
row that left the source is archived with equal content, no key was purged twice, no comment lost
its ticket, and verify passes (the rerun settled the killed run's record)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from archival import cli
from archival.archive.purges import purge_records
from archival.archive.store import LocalStore
from tests.conftest import ROOT
from tests.purge.demo import AS_OF, KEY, TABLES, orphans, prepare_demo
from tests.purge.invariant import assert_purged_rows_archived, source_state

POINTS = ("purge:locked", "purge:recorded", "purge:deleted", "purge:committed", "purge:record")


@pytest.fixture
def demo(demo_project, small_demo_db, monkeypatch):
    """Small batches, so that ten runs of at most 50 rows each leave periods to purge."""
    return prepare_demo(demo_project, small_demo_db, monkeypatch, lambda text: text.replace(
        "batch_rows: 100", "batch_rows: 15").replace("batch_rows: 40", "batch_rows: 5"))


def _purge(folder: Path, *extra: str, failpoint: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ARCHIVAL_PII_KEY": KEY.decode()}
    env.pop("ARCHIVAL_FAILPOINT", None)
    if failpoint:
        env["ARCHIVAL_FAILPOINT"] = failpoint
    return subprocess.run([sys.executable, "-m", "archival.cli", "purge", "--project-dir", str(folder), "--as-of",
                           AS_OF.isoformat(), "--ignore-quiet-hours", "--json", *extra],
                          capture_output=True, text=True, timeout=300, env=env)


def _due(folder: Path, capsys) -> list[dict]:
    """The periods in which the next run (at most 50 rows) deletes rows."""
    capsys.readouterr()
    assert cli.main(["purge", "--dry-run", "--json", "--as-of", AS_OF.isoformat(), "--max-rows", "50",
                     "--project-dir", str(folder)]) == 0
    return [p for p in json.loads(capsys.readouterr().out)["periods"] if p["deleted"]]


def _purged_twice(folder: Path) -> list:
    """Keys that two committed batches both deleted."""
    store = LocalStore(folder / "archive")
    seen: Counter = Counter()
    for record in purge_records(store).values():
        for batch in record["batches"]:
            if batch["committed"]:
                table = batch["path"].split("/")[3]
                for row in duckdb.sql(f"SELECT * FROM '{folder / 'archive' / batch['path']}'").fetchall():
                    seen[(table, row)] += 1
    return [key for key, n in seen.items() if n > 1]


def test_sigkill_at_ten_random_points(demo, capsys):
    rng = random.Random(17)
    before = {name: source_state(demo, name, KEY) for name in TABLES}
    orphans_before = orphans(demo)
    for i in range(10):
        due = _due(demo, capsys)
        assert due, "every period was purged before the tenth kill: make the batches smaller"
        period = rng.choice(due)
        point = rng.choice(POINTS)
        unit = "" if point == "purge:record" else f"@{period['table']}/{period['period']}"
        killed = _purge(demo, "--max-rows", "50", failpoint=point + unit)
        if killed.returncode != -9:
            got = json.loads(killed.stdout)
            raise AssertionError((i, point, unit, [(p["table"], p["period"], p["deleted"]) for p in due],
                                  [(p["table"], p["period"], p["deleted"], p["kept"]) for p in got["periods"]]))
        rerun = _purge(demo, "--max-rows", "50")
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        after = {name: source_state(demo, name, KEY) for name in TABLES}
        for name in TABLES:
            assert_purged_rows_archived(demo, name, before[name], after[name])
        assert not _purged_twice(demo)
        assert orphans(demo) == orphans_before
        assert cli.main(["verify", "--project-dir", str(demo)]) == 0
    assert json.loads(rerun.stdout)["settled"], "the rerun writes the killed run's record"
    store = LocalStore(demo / "archive")
    statuses = {r["status"] for r in purge_records(store).values()}
    assert statuses == {"complete", "settlement"}, statuses
    assert cli.main(["reconcile", "--project-dir", str(demo)]) == 0

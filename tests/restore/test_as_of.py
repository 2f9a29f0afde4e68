"""`--as-of` against an oracle: an incremental table is edited (inserts, updates, hard deletes)
between three runs; restoring as of each run's instant (and any instant before the next run) gives
exactly the source's rows at that run, and so does the query macro `<domain>.<table>__as_of(ts)` of a
.duckdb file written after the last run. Before the first run there is nothing to restore."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archival import cli
from tests.conftest import write_project
from tests.run.helpers import run_units

SPEC = """domain: app
owner: o@example.com
source: app
tables:
  items:
    relation: items
    primary_key: [id]
    mode: incremental
    cursor: [updated_at, created_at]
    period: day
    lag: 0s
    lookback: 1h
"""
RUNS = [datetime(2026, 3, 1, 22, tzinfo=UTC), datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 3, 4, 1, tzinfo=UTC)]

edits = st.lists(st.tuples(st.sampled_from(["insert", "update", "delete"]), st.integers(0, 30)), max_size=12)


class Oracle:
    """The source table, written through sqlite3 and mirrored as {id: val}."""

    def __init__(self, path):
        self.con = sqlite3.connect(path, isolation_level=None)
        self.con.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, created_at DATETIME, updated_at DATETIME, "
                         "val TEXT)")
        self.rows: dict[int, str] = {}
        self.next_id = 1

    def apply(self, edit: tuple[str, int], at: datetime, round_: int) -> None:
        kind, n = edit
        stamp = at.replace(tzinfo=None).isoformat(sep=" ")
        keys = sorted(self.rows)
        if kind == "insert":
            for _ in range(n % 7 + 1):
                val = f"r{round_}-new-{self.next_id}"
                self.con.execute("INSERT INTO items VALUES (?, ?, NULL, ?)", (self.next_id, stamp, val))
                self.rows[self.next_id] = val
                self.next_id += 1
        elif keys:
            key = keys[n % len(keys)]
            if kind == "update":
                val = f"r{round_}-upd-{key}-{stamp}"
                self.con.execute("UPDATE items SET updated_at = ?, val = ? WHERE id = ?", (stamp, val, key))
                self.rows[key] = val
            else:
                self.con.execute("DELETE FROM items WHERE id = ?", (key,))
                del self.rows[key]


def _restored(path) -> dict[int, str]:
    with closing(sqlite3.connect(path)) as con:
        return dict(con.execute("SELECT id, val FROM items"))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rounds=st.tuples(edits, edits, edits))
def test_restore_as_of_each_run_is_the_source_at_that_run(tmp_path_factory, rounds):
    folder = write_project(tmp_path_factory.mktemp("as-of"), "  app: {type: sqlite, path: app.db}", {"app": SPEC})
    oracle = Oracle(folder / "app.db")
    snapshots = []
    previous = RUNS[0] - timedelta(days=1)
    for index, (run, round_edits) in enumerate(zip(RUNS, rounds, strict=True)):
        step = (run - previous - timedelta(minutes=2)) / (len(round_edits) + 2)
        for number, edit in enumerate([*round_edits, ("insert", index)], start=1):  # each round keeps a new row
            oracle.apply(edit, previous + timedelta(minutes=1) + step * number, index)
        run_units(folder, run)
        snapshots.append(dict(oracle.rows))
        previous = run
    oracle.con.close()

    project = ["--project-dir", str(folder)]
    for number, (run, expected) in enumerate(zip(RUNS, snapshots, strict=True)):
        for moment in (run, run + timedelta(minutes=59)):
            target = folder / f"restored-{number}-{moment.minute}.db"
            assert cli.main(["restore", *project, "-s", "table:app.items", "--as-of", moment.isoformat(),
                             "--to", str(target)]) == 0
            assert _restored(target) == expected, (number, moment)
    before = (RUNS[0] - timedelta(seconds=1)).isoformat()
    assert cli.main(["restore", *project, "-s", "table:app.items", "--as-of", before,
                     "--to", str(folder / "none.db")]) == 2
    assert not (folder / "none.db").exists()

    views = folder / "views.duckdb"
    assert cli.main(["query", *project, "--duckdb-file", str(views)]) == 0
    with duckdb.connect(str(views), read_only=True) as con:
        for run, expected in zip(RUNS, snapshots, strict=True):
            found = con.execute("SELECT id, val FROM app.items__as_of(?)", [run]).fetchall()
            assert dict(found) == expected and len(found) == len(expected)
        assert dict(con.execute("SELECT id, val FROM app.items").fetchall()) == snapshots[-1]
        assert con.execute("SELECT count(*) FROM app.items__as_of(?)", [RUNS[0] - timedelta(seconds=1)]).fetchone() \
            == (0,)

"""Parallel reads inside one snapshot (limits.parallel_reads): a PostgreSQL unit split into key ranges
on 1, 2 and 4 connections writes byte-identical files (units of 50,000 rows with a hashed column:
several data pages per column, so batch boundaries that moved page boundaries would show); the ranges
cover every key exactly once; rows changed while the ranges are read are not seen (every connection
reads the unit's snapshot)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from hypothesis import given
from hypothesis import strategies as st

from archival.extract import ranges
from archival.extract.ranges import key_ranges
from tests.conftest import write_project
from tests.run.helpers import archive_files, run_units

AS_OF = datetime(2027, 2, 1, tzinfo=UTC)
SPEC = """domain: app
owner: o@example.com
source: pg
tables:
  events:
    relation: public.events
    primary_key: [id]
    mode: window
    cursor: at
    period: quarter
    columns:
      body: {pii: hash}
  notes: {relation: public.notes, primary_key: [id], mode: full}
"""


@given(st.integers(-10**12, 10**12), st.integers(0, 10**6), st.integers(1, 16), st.data())
def test_key_ranges_cover_every_key_once(lowest, span, n, data):
    highest = lowest + span
    bounds = key_ranges(lowest, highest, n)
    assert 1 <= len(bounds) <= n and bounds[0][0] is None and bounds[-1][1] is None
    for (_, hi), (lo, _) in zip(bounds, bounds[1:], strict=False):
        assert hi == lo and lowest < lo <= highest  # adjacent, no gap, no overlap, no empty edge
    key = data.draw(st.integers(lowest, highest))
    assert sum((lo is None or key >= lo) and (hi is None or key < hi) for lo, hi in bounds) == 1


def _project(folder: Path, connections: int) -> Path:
    return write_project(folder, "  pg: {type: postgres, dsn: env:RANGES_DSN}", {"app": SPEC},
                         extra=f"limits: {{max_parallel_per_source: 4, parallel_reads: {connections}, "
                               "parallel_min_rows: 1000}\npii: {hash_key: env:ARCHIVAL_PII_KEY}\n")


def test_one_two_and_four_connections_write_the_same_bytes(pg_dsn, tmp_path, monkeypatch):
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("CREATE TABLE events AS SELECT g * 7 - 90000 AS id, "
                    "timestamptz '2026-01-01' + g * interval '2 minutes' AS at, md5(g::text) AS body, "
                    "(g % 1000)::numeric / 7 AS amount, CASE WHEN g % 5 = 0 THEN NULL ELSE g % 13 END AS n "
                    "FROM generate_series(1, 200000) g")
        con.execute("ALTER TABLE events ADD PRIMARY KEY (id)")
        con.execute("CREATE TABLE notes AS SELECT g AS id, repeat(chr(65 + g % 26), g % 50) AS text "
                    "FROM generate_series(1, 5000) g WHERE g % 3 <> 0")
        con.execute("ALTER TABLE notes ADD PRIMARY KEY (id)")
    monkeypatch.setenv("RANGES_DSN", pg_dsn)
    monkeypatch.setenv("ARCHIVAL_PII_KEY", "k" * 32)
    split = []
    original = ranges.RangedRead.__init__

    def counting(self, *args, **kwargs):
        split.append(len(args[3]))  # the queries of the other connections
        original(self, *args, **kwargs)

    monkeypatch.setattr(ranges.RangedRead, "__init__", counting)
    archives = {}
    for connections in (1, 2, 4):
        folder = _project(tmp_path / f"n{connections}", connections)
        _, results = run_units(folder, AS_OF)
        assert sum(r.rows for r in results) == 200000 + 3334
        archives[connections] = {p: b for p, b in archive_files(folder).items()
                                 if "/period=" in p and "_manifests" not in p}
    assert archives[1] and archives[1] == archives[2] == archives[4]
    # 1 connection: never split; 2 and 4: every unit of 1,000 rows or more (the notes too)
    assert split and set(split) == {1, 3}


def test_rows_changed_during_the_read_are_not_seen(pg_dsn, tmp_path, monkeypatch):
    """A change committed after the unit's snapshot, while the other connections still start, is read
    by none of them: the count and every range agree."""
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("CREATE TABLE notes AS SELECT g AS id, 'v1' AS text FROM generate_series(1, 20000) g")
        con.execute("ALTER TABLE notes ADD PRIMARY KEY (id)")
        con.execute("CREATE TABLE events (id int PRIMARY KEY, at timestamptz)")
    monkeypatch.setenv("RANGES_DSN", pg_dsn)
    monkeypatch.setenv("ARCHIVAL_PII_KEY", "k" * 32)
    original = ranges.RangedRead.__init__

    def change_first(self, *args, **kwargs):
        def write():
            with psycopg.connect(pg_dsn, autocommit=True) as other:
                other.execute("UPDATE notes SET text = 'v2' WHERE id > 10000")
                other.execute("DELETE FROM notes WHERE id % 2 = 0")
        thread = threading.Thread(target=write)
        thread.start()
        thread.join()
        original(self, *args, **kwargs)

    monkeypatch.setattr(ranges.RangedRead, "__init__", change_first)
    folder = _project(tmp_path / "p", 4)
    _, results = run_units(folder, AS_OF, select=["table:app.notes"])
    assert [r.outcome for r in results] == ["written"] and results[0].rows == 20000
    import duckdb

    from tests.run.helpers import archived_sql

    archived = archived_sql(folder, "app", "notes")
    assert duckdb.sql(f"SELECT count(*), count(*) FILTER (WHERE text = 'v2') FROM {archived}").fetchone() == (20000, 0)

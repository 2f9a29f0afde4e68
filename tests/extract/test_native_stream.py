"""A `native` PostgreSQL read streams on one DuckDB thread (a second one only waits for the one
connection, at a cost in CPU) and gives the instance its threads back once the rows are read, so the
unit's later queries keep them."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from archival.extract import ranges
from archival.extract.ranges import ParallelRead
from archival.extract.snapshot import open_snapshot
from archival.plan.units import ExportUnit
from archival.spec.load import load_project
from tests.conftest import write_project

SPEC = """domain: shop
owner: data@example.com
source: pg
tables:
  items:
    relation: public.items
    primary_key: [id]
    mode: full
"""


def _threads(con) -> int:
    """The instance's threads, asked on a connection of its own: a query on the unit's connection would
    end the stream it reads."""
    with con.cursor() as other:
        return int(other.execute("SELECT current_setting('threads')").fetchone()[0])


@pytest.mark.parametrize("connections", [1, 2])
def test_a_native_read_streams_on_one_thread_and_gives_the_others_back(pg_dsn, tmp_path, monkeypatch, connections):
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("CREATE TABLE items AS SELECT g AS id, md5(g::text) AS body FROM generate_series(1, 3000) g")
        con.execute("ALTER TABLE items ADD PRIMARY KEY (id)")
    monkeypatch.setenv("NATIVE_DSN", pg_dsn)
    folder = write_project(tmp_path / "p", "  pg: {type: postgres, dsn: env:NATIVE_DSN}", {"shop": SPEC})
    split = []
    original = ranges.RangedRead.__init__
    monkeypatch.setattr(ranges.RangedRead, "__init__", lambda self, *a, **k: split.append(1) or original(self, *a, **k))
    project = load_project(Path(folder))
    domain = project.domain("shop")
    table = domain.table("items")
    unit = ExportUnit("shop", "items", "full", "full", "pg", "", "due", "")
    with open_snapshot(project.source_of(domain), Path(folder), table, unit, batch_rows=1000, threads=2,
                       parallel=ParallelRead(connections, 1000, tmp_path / "ranges")) as snap:
        assert snap.query.strategy == "native"
        batches = iter(snap.batches)
        first = next(batches)
        assert _threads(snap.connection) == 1  # while PostgreSQL streams the rows
        ids = first.column("id").to_pylist() + [i for b in batches for i in b.column("id").to_pylist()]
        assert ids == list(range(1, 3001))
        assert _threads(snap.connection) == 2  # the rows are read: the unit's next queries have both
    assert len(split) == (connections > 1)  # two connections: the first range streams on this one

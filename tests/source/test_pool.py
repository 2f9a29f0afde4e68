"""Pooled DuckDB instances: reused only after a clean exit, handed back as good as new (no source
attached, no transaction, default settings), one holder at a time, never across a fork."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from archival.source.duck import InstancePool, SourceError, attach
from archival.spec.model import Source


def _sqlite(tmp_path: Path) -> Source:
    db = tmp_path / "s.db"
    import sqlite3

    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        con.execute("INSERT INTO t VALUES (1), (2)")
    return Source(name="s", type="sqlite", path=str(db))


def _loaded(con: duckdb.DuckDBPyConnection) -> bool:
    return con.execute("SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'sqlite_scanner'").fetchone()[0]


def test_instance_comes_back_reset_with_its_extension_loaded(tmp_path):
    pool, source = InstancePool(), _sqlite(tmp_path)
    with pool.connection(("sqlite",)) as first:
        attach(first, source, tmp_path)
        first.execute("SET threads = 1")
        first.execute("BEGIN TRANSACTION")
        assert first.execute("SELECT count(*) FROM src.t").fetchone() == (2,)
    with pool.connection(("sqlite",)) as second:
        assert second is first and _loaded(second)
        assert second.execute("SELECT count(*) FROM duckdb_databases() WHERE database_name = 'src'").fetchone() == (0,)
        default = duckdb.connect().execute("SELECT current_setting('threads')").fetchone()
        assert second.execute("SELECT current_setting('threads')").fetchone() == default
        second.execute("BEGIN TRANSACTION")  # no transaction was left open
        attach(second, source, tmp_path)  # the alias is free again
        second.execute("ROLLBACK")
    pool.clear()


def test_instance_of_a_failed_holder_is_closed_not_reused(tmp_path):
    pool = InstancePool()
    with pytest.raises(RuntimeError), pool.connection(("sqlite",)) as broken:
        raise RuntimeError("unit failed")
    with pytest.raises(duckdb.ConnectionException):
        broken.execute("SELECT 1")
    with pool.connection(("sqlite",)) as fresh:
        assert fresh is not broken


def test_an_instance_with_leftover_tables_or_views_is_not_reused():
    pool = InstancePool()
    for leftover in ("CREATE TABLE t AS SELECT 1 AS x", "CREATE TEMP VIEW v AS SELECT 1 AS x"):
        with pool.connection(("sqlite",)) as con:
            con.execute(leftover)
        with pool.connection(("sqlite",)) as fresh:
            assert fresh is not con
            assert fresh.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone() == (0,)
    pool.clear()


def test_keys_and_holders_never_share(tmp_path):
    pool = InstancePool(keep=2)
    with pool.connection(("sqlite",)) as a, pool.connection(("sqlite",)) as b:
        assert a is not b  # two holders at once: two instances
    with pool.connection(("postgres",)) as c:
        assert c is not a and c is not b  # another extension: another instance
    with pool.connection(("sqlite",)) as d:
        assert d is a  # keep=2: b, given back first, was the oldest of three idle instances and was closed
    with pytest.raises(duckdb.ConnectionException):
        b.execute("SELECT 1")
    held = []

    def hold():
        with pool.connection(("sqlite",)) as con:
            held.append(con)
            barrier.wait()

    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert held[0] is not held[1]
    pool.clear()


def test_a_forked_child_never_uses_the_parents_instances(tmp_path, monkeypatch):
    pool = InstancePool()
    with pool.connection(("sqlite",)) as parent:
        pass
    monkeypatch.setattr("archival.source.duck.os.getpid", lambda: -1)  # as os.fork() would make it
    with pool.connection(("sqlite",)) as child:
        assert child is not parent


def test_spill_folder_is_the_instances_own_and_goes_with_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # TMPDIR moves spills (tempfile reads it on first use only)
    monkeypatch.setattr("archival.source.duck.tempfile.tempdir", None)
    pool = InstancePool()
    with pool.connection(("sqlite",)) as a, pool.connection(("sqlite",)) as b:
        folders = [Path(c.execute("SELECT current_setting('temp_directory')").fetchone()[0]) for c in (a, b)]
    assert folders[0] != folders[1] and all(f.parent == tmp_path / "archival-spill" for f in folders)
    for folder in folders:
        folder.mkdir(parents=True)  # as DuckDB makes it when it first spills
    pool.clear()
    assert not any(f.exists() for f in folders)


def test_an_instance_that_spilled_serves_the_next_holder():
    """DuckDB refuses to switch a temp directory once used: holders set limits, never the folder."""
    pool = InstancePool()
    spilled = []
    for _ in range(2):
        with pool.connection(("sqlite",)) as con:
            con.execute("SET memory_limit = '64MB'")
            con.execute("SET threads = 1")
            rows = con.execute("SELECT count(*) FROM (SELECT md5(i::VARCHAR) || repeat('x', 40) AS v "
                               "FROM range(1500000) t(i) ORDER BY v)").fetchone()
            spilled.append(con.execute("SELECT current_setting('temp_directory')").fetchone()[0])
            assert rows == (1_500_000,)
    assert spilled[0] == spilled[1] and Path(spilled[0]).is_dir()
    pool.clear()


def test_an_unusable_spill_folder_is_a_clear_error_that_names_it(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"  # e.g. a tmp cleaner's race; TMPDIR itself is checked by tempfile
    blocker.write_text("")
    monkeypatch.setattr("archival.source.duck.spill_root", lambda: blocker / "archival-spill")
    pool = InstancePool()
    with pytest.raises(SourceError, match=f"spill folder {blocker}/archival-spill .*set TMPDIR"), \
            pool.connection(("sqlite",)):
        pass
    assert pool._idle == []  # the instance made for it was closed, not pooled


def test_a_unit_whose_spill_folder_cannot_be_made_writes_nothing(tmp_path, monkeypatch):
    from datetime import UTC, datetime

    from archival.extract.snapshot import ExtractError
    from tests.conftest import write_project
    from tests.run.helpers import run_units

    source = _sqlite(tmp_path)
    spec = "domain: d\nowner: o@example.com\nsource: s\ntables:\n  t:\n    relation: t\n    primary_key: [id]\n" \
           "    mode: full\n"
    folder = write_project(tmp_path, f"  s: {{type: sqlite, path: {source.path}}}", {"d": spec})
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setattr("archival.source.duck.spill_root", lambda: blocker / "archival-spill")
    monkeypatch.setattr("archival.source.duck.POOL", InstancePool())  # none pooled with a usable folder
    with pytest.raises(ExtractError, match="set TMPDIR to a writable local folder"):
        run_units(folder, datetime(2026, 4, 1, tzinfo=UTC))
    written = [p for p in (folder / "archive").rglob("*") if p.is_file() and ".work" not in p.parts]
    assert [p.name.split("-", 1)[1] for p in sorted(written)] == ["START.json", "FAIL.json"]  # lineage says it failed

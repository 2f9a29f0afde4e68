"""Property test: random interleavings of inserts, updates, deletes, back-dated inserts (within the
lookback), many rows sharing one timestamp exactly at period edges, and runs. After every run the
archive holds exactly the row versions an oracle expects: every (key, cursor value) that a run's
snapshot could see below its upper bound, once. Zero lost, zero duplicated. SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archival.archive.state import archived_periods
from archival.archive.store import LocalStore
from tests.conftest import PG_ADMIN_DSN, write_project
from tests.run.helpers import run_units

START = datetime(2026, 1, 1, 23, 30)  # half an hour before a midnight edge
LOOKBACK = timedelta(hours=2)
SPEC = """domain: app
owner: o@example.com
source: {source}
tables:
  items:
    relation: items
    primary_key: [id]
    mode: incremental
    cursor: [updated_at, created_at]
    period: day
    lag: 0s
    lookback: 2h
"""

# operations: (kind, amount, offset seconds); offsets land rows exactly on a midnight edge sometimes
operation = st.one_of(
    st.tuples(st.just("insert"), st.integers(1, 40), st.sampled_from([0, 1, 59, 600, 3599, -1])),
    st.tuples(st.just("update"), st.integers(1, 10), st.sampled_from([0, 1, 30, 900])),
    st.tuples(st.just("delete"), st.integers(1, 5), st.just(0)),
    st.tuples(st.just("backdate"), st.integers(1, 10), st.integers(1, int(LOOKBACK.total_seconds()) - 1)),
    st.tuples(st.just("advance"), st.sampled_from([7, 60, 119, 120, 121, 600]), st.just(0)),
    st.tuples(st.just("run"), st.just(0), st.just(0)),
)


class Source:
    """A table the test writes with the database's own driver, mirrored in memory (the oracle)."""

    def __init__(self, execute):
        self.execute = execute
        self.rows: dict[int, tuple[datetime, datetime | None]] = {}
        self.next_id = 1

    def cursor_of(self, key: int) -> datetime:
        created, updated = self.rows[key]
        return updated or created

    def insert(self, created: datetime) -> None:
        self.execute("INSERT INTO items (id, created_at, updated_at, val) VALUES (?, ?, NULL, ?)",
                     (self.next_id, created, f"v{self.next_id} ü"))
        self.rows[self.next_id] = (created, None)
        self.next_id += 1

    def update(self, key: int, at: datetime) -> None:
        self.execute("UPDATE items SET updated_at = ?, val = ? WHERE id = ?", (at, f"u{at}", key))
        self.rows[key] = (self.rows[key][0], at)

    def delete(self, key: int) -> None:
        self.execute("DELETE FROM items WHERE id = ?", (key,))
        del self.rows[key]


def _archived_versions(folder: Path) -> Counter:
    store = LocalStore(folder / "archive")
    files = []
    for manifest in archived_periods(store, "app", "items").values():
        import json

        files += [str(folder / "archive" / f["path"]) for f in json.loads(store.read_bytes(manifest.path))["files"]]
    if not files:
        return Counter()
    rows = duckdb.sql(f"SELECT id, coalesce(updated_at, created_at) FROM read_parquet({files}, "
                      "hive_partitioning=false)").fetchall()
    return Counter(rows)


def _play(folder: Path, source: Source, ops: list) -> None:
    now = START
    last_run: datetime | None = None
    expected: set[tuple[int, datetime]] = set()
    for kind, amount, offset in ops:
        floor = (last_run - LOOKBACK + timedelta(seconds=1)) if last_run else START
        if kind == "insert":
            # exactly on the last midnight edge when a run can still see it (at or after watermark - lookback;
            # rows older than that are late beyond the lookback, which only reconcile can find), else near now
            edge = now.replace(hour=0, minute=0, second=0, microsecond=0)
            at = edge if offset in (0, -1) and floor <= edge <= now else now - timedelta(seconds=abs(offset))
            at = max(at, floor)
            for _ in range(amount):
                source.insert(at)
        elif kind == "update" and source.rows:
            at = max(now - timedelta(seconds=offset), floor)
            for key in sorted(source.rows)[:amount]:
                if at > source.cursor_of(key):
                    source.update(key, at)
        elif kind == "delete" and source.rows:
            for key in sorted(source.rows, reverse=True)[:amount]:
                source.delete(key)
        elif kind == "backdate" and last_run is not None:
            at = last_run - timedelta(seconds=offset)  # a late commit below the watermark, within the lookback
            for _ in range(amount):
                source.insert(at)
        elif kind == "advance":
            now += timedelta(minutes=amount)
        elif kind == "run":
            as_of = now.replace(tzinfo=UTC)
            expected |= {(k, source.cursor_of(k)) for k in source.rows if source.cursor_of(k) < now}
            run_units(folder, as_of)
            last_run = now
            archived = _archived_versions(folder)
            duplicated = {v: n for v, n in archived.items() if n > 1}
            assert not duplicated, f"duplicated versions: {sorted(duplicated)[:5]}"
            lost = expected - set(archived)
            assert not lost, f"lost versions: {sorted(lost)[:5]}"
            assert set(archived) == expected, f"unexpected versions: {sorted(set(archived) - expected)[:5]}"
            now += timedelta(seconds=1)  # rows written after a run carry a later timestamp


PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])


@PROPERTY
@given(ops=st.lists(operation, min_size=4, max_size=28).map(lambda o: [*o, ("run", 0, 0)]))
def test_incremental_exact_on_sqlite(tmp_path_factory, ops):
    folder = tmp_path_factory.mktemp("prop")
    db = sqlite3.connect(folder / "app.db", isolation_level=None)
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, created_at DATETIME NOT NULL, updated_at DATETIME, "
               "val TEXT)")
    write_project(folder, "  s: {type: sqlite, path: app.db}", {"app": SPEC.format(source="s")})
    _play(folder, Source(lambda sql, params: db.execute(sql, params)), ops)


@pytest.fixture(scope="module")
def pg_database():
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        from tests.conftest import unavailable

        unavailable("PostgreSQL on 127.0.0.1:5432", exc)
    name = f"archival_prop_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"host=127.0.0.1 port=5432 user=postgres dbname={name}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@PROPERTY
@given(ops=st.lists(operation, min_size=4, max_size=28).map(lambda o: [*o, ("run", 0, 0)]))
def test_incremental_exact_on_postgres(pg_database, tmp_path_factory, monkeypatch, ops):
    folder = tmp_path_factory.mktemp("prop")
    schema = f"s_{uuid.uuid4().hex[:10]}"
    con = psycopg.connect(pg_database, autocommit=True)
    con.execute(f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.items (id int PRIMARY KEY, "
                "created_at timestamp NOT NULL, updated_at timestamp, val text)")
    con.execute(f"SET search_path TO {schema}")
    monkeypatch.setenv("PROP_DSN", pg_database)
    write_project(folder, "  pg: {type: postgres, dsn: env:PROP_DSN}",
                  {"app": SPEC.format(source="pg").replace("relation: items", f"relation: {schema}.items")})
    try:
        _play(folder, Source(lambda sql, params: con.execute(sql.replace("?", "%s"), params)), ops)
    finally:
        con.execute(f"DROP SCHEMA {schema} CASCADE")
        con.close()


@pytest.fixture(scope="module")
def mariadb_database():
    import pymysql

    from tests.conftest import MYSQL, unavailable

    try:
        admin = pymysql.connect(**MYSQL, connect_timeout=5, autocommit=True)
    except pymysql.MySQLError as exc:
        unavailable("MariaDB on 127.0.0.1:3306", exc)
    name = f"archival_prop_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    yield name
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    admin.close()


@PROPERTY
@given(ops=st.lists(operation, min_size=4, max_size=28).map(lambda o: [*o, ("run", 0, 0)]))
def test_incremental_exact_on_mariadb(mariadb_database, tmp_path_factory, monkeypatch, ops):
    import pymysql

    folder = tmp_path_factory.mktemp("prop")
    table = f"items_{uuid.uuid4().hex[:8]}"
    con = pymysql.connect(host="127.0.0.1", user="root", database=mariadb_database, autocommit=True)
    with con.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, created_at DATETIME(6) NOT NULL, "
                    "updated_at DATETIME(6) NULL, val TEXT) CHARSET utf8mb4")
    monkeypatch.setenv("PROP_DSN", f"host=127.0.0.1 port=3306 user=root database={mariadb_database}")
    write_project(folder, "  my: {type: mysql, dsn: env:PROP_DSN}",
                  {"app": SPEC.format(source="my").replace("relation: items", f"relation: {table}")})

    def execute(sql, params):
        with con.cursor() as cur:
            cur.execute(sql.replace("?", "%s").replace("items", table), params)

    try:
        _play(folder, Source(execute), ops)
    finally:
        with con.cursor() as cur:
            cur.execute(f"DROP TABLE {table}")
        con.close()

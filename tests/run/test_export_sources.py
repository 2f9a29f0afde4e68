"""The archive of each closed period equals the source rows of that period, for the column types
low-code apps use, on PostgreSQL, MariaDB and SQLite. The oracle reads the source with its own
driver (psycopg, pymysql, sqlite3), not through archival's code path."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import duckdb
import psycopg
import pymysql

from archival.archive.state import archived_periods
from archival.archive.store import LocalStore
from archival.plan.periods import parse_label
from tests.conftest import write_project
from tests.run.helpers import run_units

AS_OF = datetime(2026, 4, 10, tzinfo=UTC)
EDGES = [datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC) - timedelta(microseconds=1),
         datetime(2026, 3, 1, tzinfo=UTC)]


def _instants(n: int) -> list[datetime]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    spread = [start + timedelta(seconds=i * 7919 % (89 * 86400), microseconds=i * 37 % 1_000_000) for i in range(n)]
    return spread + EDGES * 5  # many rows sharing a cursor value exactly at a period edge


def _archived_rows(folder, table: str) -> dict[str, list[tuple]]:
    store = LocalStore(folder / "archive")
    out = {}
    for label, manifest in archived_periods(store, "shop", table).items():
        files = json.loads(store.read_bytes(manifest.path))["files"]
        paths = [str(folder / "archive" / f["path"]) for f in files]
        rows = duckdb.sql(f"SELECT * FROM read_parquet({paths}, hive_partitioning=false)").fetchall() if paths else []
        out[label] = rows
    return out


def _norm(value):
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, datetime) and value.tzinfo:
        return value.astimezone(UTC)
    if isinstance(value, bytes | memoryview):
        return bytes(value)
    return value


def _norm_archive(value, json_like: bool):
    if json_like and isinstance(value, str):
        return json.dumps(json.loads(value), sort_keys=True)
    if isinstance(value, str):
        try:
            return _norm(Decimal(value)) if value.replace(".", "", 1).replace("-", "", 1).isdigit() else value
        except ArithmeticError:
            return value
    return _norm(value)


def _assert_same(archived: list[tuple], expected: list[tuple], json_cols: set[int]) -> None:
    got = [tuple(_norm_archive(v, i in json_cols) for i, v in enumerate(row)) for row in archived]
    want = [tuple(_norm(v) for v in row) for row in expected]
    assert len(got) == len(want)
    assert got == want  # same rows, same values, and ordered by primary key


PG_SPEC = """domain: shop
owner: o@example.com
source: pg
tables:
  orders:
    relation: app.orders
    primary_key: [id]
    mode: window
    cursor: created_at
  orders_full: {relation: app.orders, primary_key: [id], mode: full}
"""


def test_postgres_every_period_equals_source(pg_dsn, tmp_path, monkeypatch):
    instants = _instants(3000)
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("SET TimeZone = 'Asia/Kolkata'")  # the writer's session zone must not matter
        con.execute("""CREATE SCHEMA app; CREATE TABLE app.orders (
            id bigint PRIMARY KEY, customer_id int, status text, amount numeric(12,2), sla numeric,
            title text, paid boolean, created_at timestamptz NOT NULL, updated_at timestamp, due date,
            payload jsonb, meta json, ref uuid, tags text[], raw bytea)""")
        con.execute("CREATE INDEX ON app.orders (created_at)")
        with con.cursor() as cur:
            cur.executemany("INSERT INTO app.orders VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", [
                (i, i % 97 or None, ["new", "paid", "shipped"][i % 3], Decimal(i) / 100,
                 Decimal("1.23456789012345678901") * i if i % 5 else None,
                 f"Zoë's order #{i} 📦\nline two" if i % 7 else None, i % 2 == 0, at, at.replace(tzinfo=None)
                 if i % 4 else None, at.date(), json.dumps({"n": i, "tags": ["a", "ü"]}), json.dumps([i]),
                 uuid.UUID(int=i), ["x", str(i)], bytes([i % 256, 0, 255]))
                for i, at in enumerate(instants, start=1)])
    monkeypatch.setenv("SHOP_DSN", pg_dsn)
    folder = write_project(tmp_path, "  pg: {type: postgres, dsn: env:SHOP_DSN}", {"shop": PG_SPEC})
    _, results = run_units(folder, AS_OF)
    assert {r.outcome for r in results} == {"written"}
    archived = _archived_rows(folder, "orders")
    assert sorted(archived) == ["2026-01", "2026-02", "2026-03"]
    strategies = {json.loads(p.read_bytes())["table"]: json.loads(p.read_bytes())["source_summary"]["read_strategy"]
                  for p in (folder / "archive").rglob("v000001.json")}
    # windows are filtered in PostgreSQL (cursor index); numeric without scale forces native text reads
    assert strategies == {"orders": "native", "orders_full": "native"}
    json_cols = {10, 11}
    total = 0
    with psycopg.connect(pg_dsn) as con:
        for label, rows in archived.items():
            period = parse_label(label, "month", "UTC")
            want = con.execute("SELECT * FROM app.orders WHERE created_at >= %s AND created_at < %s ORDER BY id",
                               (period.start, period.end)).fetchall()
            _assert_same(rows, want, json_cols)
            total += len(rows)
        assert total == con.execute("SELECT count(*) FROM app.orders").fetchone()[0]  # none lost, none twice
        full = _archived_rows(folder, "orders_full")["full"]
        _assert_same(full, con.execute("SELECT * FROM app.orders ORDER BY id").fetchall(), json_cols)


MYSQL_SPEC = """domain: shop
owner: o@example.com
source: my
tables:
  orders:
    relation: orders
    primary_key: [id]
    mode: window
    cursor: created_at
    timezone: Europe/Berlin
"""


def test_mysql_every_period_equals_source(mysql_db, tmp_path, monkeypatch):
    name, dsn = mysql_db
    berlin_wall = [(at + timedelta(hours=1)).replace(tzinfo=None) for at in _instants(2000)]  # CET wall time
    writer = pymysql.connect(host="127.0.0.1", user="root", database=name, autocommit=True, charset="utf8mb4")
    with writer as con, con.cursor() as cur:
        cur.execute("""CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id INT NULL, status VARCHAR(20),
            amount DECIMAL(12,2), title TEXT, paid TINYINT(1), created_at DATETIME(6) NOT NULL,
            due DATE NULL, payload JSON NULL, ref UUID NULL, INDEX (created_at)) CHARSET utf8mb4""")
        cur.executemany("INSERT INTO orders VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", [
            (i, i % 97 or None, ["new", "paid"][i % 2], Decimal(i) / 100,
             f"Søren 🧾 #{i}" if i % 7 else None, i % 2, at, at.date() if i % 3 else None,
             json.dumps({"n": i}) if i % 4 else None, str(uuid.UUID(int=i)))
            for i, at in enumerate(berlin_wall, start=1)])
    monkeypatch.setenv("MY_DSN", dsn)
    folder = write_project(tmp_path, "  my: {type: mysql, dsn: env:MY_DSN}", {"shop": MYSQL_SPEC})
    _, results = run_units(folder, AS_OF)
    assert results and {r.outcome for r in results} == {"written"}
    archived = _archived_rows(folder, "orders")
    total = 0
    with pymysql.connect(host="127.0.0.1", user="root", database=name, charset="utf8mb4") as con, \
            con.cursor() as cur:
        for label, rows in archived.items():
            period = parse_label(label, "month", "UTC")  # the domain calendar is UTC; the column holds Berlin time
            lo = period.start.astimezone(ZoneInfo("Europe/Berlin")).replace(tzinfo=None)
            hi = period.end.astimezone(ZoneInfo("Europe/Berlin")).replace(tzinfo=None)
            cur.execute("SELECT * FROM orders WHERE created_at >= %s AND created_at < %s ORDER BY id", (lo, hi))
            want = [tuple(bool(v) if j == 5 and v is not None else v for j, v in enumerate(r)) for r in cur.fetchall()]
            _assert_same(rows, want, {8})
            total += len(rows)
        cur.execute("SELECT count(*) FROM orders")
        assert total == cur.fetchone()[0]


def test_sqlite_demo_every_period_equals_source(tmp_path):
    from archival.demo.helpdesk import generate

    generate(tmp_path / "data" / "app.db", scale=0.01)
    folder = write_project(tmp_path, "  app: {type: sqlite, path: data/app.db}", {"shop": """domain: shop
owner: o@example.com
source: app
tables:
  comments: {relation: ticket_comments, primary_key: [id], mode: window, cursor: created_at}
  customers: {relation: customers, primary_key: [id], mode: full}
"""})
    _, results = run_units(folder, datetime(2026, 12, 1, tzinfo=UTC))
    assert len(results) == 25 and {r.outcome for r in results} == {"written"}
    db = sqlite3.connect(tmp_path / "data" / "app.db")
    total = 0
    for label, rows in _archived_rows(folder, "comments").items():
        period = parse_label(label, "month", "UTC")
        want = db.execute("SELECT * FROM ticket_comments WHERE created_at >= ? AND created_at < ? ORDER BY id",
                          (period.start.strftime("%Y-%m-%d %H:%M:%S"), period.end.strftime("%Y-%m-%d %H:%M:%S")))
        want = [(r[0], r[1], r[2], r[3], bool(r[4]) if r[4] is not None else None,
                 datetime.fromisoformat(r[5]), r[6]) for r in want]
        _assert_same(rows, want, set())
        total += len(rows)
    assert total == db.execute("SELECT count(*) FROM ticket_comments").fetchone()[0]
    assert date(2024, 11, 1) <= min(parse_label(p, "month", "UTC").start.date()
                                    for p in _archived_rows(folder, "comments"))


FULL_SPEC = """domain: shop
owner: o@example.com
source: my
tables:
  items:
    relation: items
    primary_key: [id]
    mode: full
"""


def _mysql_items(name: str, engine: str) -> None:
    with pymysql.connect(host="127.0.0.1", user="root", database=name, autocommit=True) as con, con.cursor() as cur:
        cur.execute(f"CREATE TABLE items (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE={engine}")
        ids = [i * 7919 % 5003 + 1 for i in range(5003)]  # inserted out of key order
        cur.executemany("INSERT INTO items VALUES (%s, %s)", [(i, f"v{i}") for i in ids])
        if engine != "InnoDB":
            cur.execute("DELETE FROM items WHERE id % 10 = 0")  # leaves holes MyISAM refills out of order
            cur.executemany("INSERT INTO items VALUES (%s, %s)", [(i, f"v{i}") for i in range(10, 5004, 10)])


def test_mysql_whole_table_streams_in_clustered_order_or_falls_back_to_a_sort(mysql_db, tmp_path, monkeypatch):
    """InnoDB: read in primary-key order without a sort, same bytes as a sorted read. MyISAM keeps
    insertion order: the order check trips and the unit reads again, sorted; the archive is the same."""
    name, dsn = mysql_db
    monkeypatch.setenv("MY_DSN", dsn)
    archives = {}
    for engine in ("InnoDB", "MyISAM"):
        with pymysql.connect(host="127.0.0.1", user="root", database=name, autocommit=True) as con, \
                con.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS items")
        _mysql_items(name, engine)
        folder = write_project(tmp_path / engine, "  my: {type: mysql, dsn: env:MY_DSN}", {"shop": FULL_SPEC})
        _, results = run_units(folder, AS_OF)
        assert [r.outcome for r in results] == ["written"] and results[0].rows == 5003
        store = LocalStore(folder / "archive")
        manifest = json.loads(store.read_bytes(archived_periods(store, "shop", "items")["full"].path))
        archives[engine] = (manifest["source_summary"]["read_strategy"], [f["sha256"] for f in manifest["files"]])
        assert ("read_again_sorted" in results[0].details) == (engine == "MyISAM")
        events = sorted((folder / "archive" / "_lineage").rglob("*.json"))
        assert [e.stem.split("-", 1)[1] for e in events] == ["START", "COMPLETE"]  # a re-read is no failure
    assert archives["InnoDB"][0] == "clustered" and archives["MyISAM"][0] == "scan"
    assert archives["InnoDB"][1] == archives["MyISAM"][1]  # same rows, same bytes, whichever way they came

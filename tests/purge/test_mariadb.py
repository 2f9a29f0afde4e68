"""Purge on MariaDB with InnoDB foreign keys: order items (children) go before their orders
(parents); an order whose items are not all purgeable stays; the purge role may DELETE, the export
role only SELECT; the invariant holds and the next export writes no tombstones."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pymysql
import pytest

from archival import cli
from archival.archive.state import archived_periods
from archival.archive.store import LocalStore
from tests.conftest import MYSQL, write_project
from tests.purge.invariant import assert_purged_rows_archived, source_state
from tests.run.helpers import run_units

AS_OF = datetime(2026, 11, 26, tzinfo=UTC)
SPEC = """domain: shop
owner: o@example.com
source: shop
defaults: {period: month, lag: 1h}
tables:
  orders:
    relation: orders
    primary_key: [id]
    mode: incremental
    cursor: [updated_at, created_at]
    purge: {after: 90d, batch_rows: 100, pause: 0s, lock_timeout: 1s}
  order_items:
    relation: order_items
    primary_key: [order_id, line]
    mode: window
    cursor: created_at
    purge: {after: 90d, batch_rows: 150, pause: 0s, lock_timeout: 1s}
"""
TABLES = ("shop.orders", "shop.order_items")


@pytest.fixture
def shop(mysql_db):
    name, dsn = mysql_db
    suffix = uuid.uuid4().hex[:8]
    reader, purger = f"arch_r_{suffix}", f"arch_p_{suffix}"
    with pymysql.connect(**MYSQL, database=name, autocommit=True) as con, con.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, customer VARCHAR(40) NOT NULL, total DECIMAL(10,2), "
                    "created_at DATETIME NOT NULL, updated_at DATETIME NULL) ENGINE=InnoDB")
        cur.execute("CREATE TABLE order_items (order_id INT NOT NULL, line INT NOT NULL, sku VARCHAR(20), qty INT, "
                    "created_at DATETIME NOT NULL, PRIMARY KEY (order_id, line), "
                    "FOREIGN KEY (order_id) REFERENCES orders (id)) ENGINE=InnoDB")
        start = datetime(2025, 1, 1)
        for i in range(1, 601):
            created = start + timedelta(hours=17 * i)
            cur.execute("INSERT INTO orders VALUES (%s, %s, %s, %s, NULL)", (i, f"c{i % 37}", i * 1.25, created))
            for line in range(1, 1 + i % 4):
                # an item is written with its order, or (every 50th order) months later: then it is too new
                # to purge, and its order must stay
                late = datetime(2026, 10, 15) if i % 50 == 0 else created
                cur.execute("INSERT INTO order_items VALUES (%s, %s, %s, %s, %s)", (i, line, f"sku{line}", line, late))
        for user, grants in ((reader, "SELECT"), (purger, "SELECT, DELETE")):
            cur.execute(f"CREATE USER '{user}'@'%'")
            cur.execute(f"GRANT {grants} ON `{name}`.* TO '{user}'@'%'")
    yield name, dsn.replace("user=root", f"user={reader}"), dsn.replace("user=root", f"user={purger}")
    with pymysql.connect(**MYSQL, autocommit=True) as con, con.cursor() as cur:
        for user in (reader, purger):
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")


def test_purge_children_before_parents_on_mariadb(shop, tmp_path, monkeypatch, capsys):
    name, reader, purger = shop
    monkeypatch.setenv("SHOP_DSN", reader)
    monkeypatch.setenv("SHOP_PURGE_DSN", purger)
    folder = write_project(tmp_path, "  shop: {type: mysql, dsn: env:SHOP_DSN, purge_dsn: env:SHOP_PURGE_DSN}",
                           {"shop": SPEC})
    run_units(folder, AS_OF)
    with pymysql.connect(**MYSQL, database=name, autocommit=True) as con, con.cursor() as cur:
        cur.execute("UPDATE order_items SET qty = 99 WHERE order_id = 3 AND line = 1")  # edited after the export
    before = {t: source_state(folder, t, None) for t in TABLES}

    capsys.readouterr()
    assert cli.main(["purge", "--json", "--as-of", AS_OF.isoformat(), "--project-dir", str(folder)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [p["table"] for p in report["periods"]][0] == "shop.order_items", "children go first"
    gone = {t: assert_purged_rows_archived(folder, t, before[t], source_state(folder, t, None)) for t in TABLES}
    assert gone["shop.order_items"] > 500 and gone["shop.orders"] > 300
    assert sum(gone.values()) == report["deleted"]
    with pymysql.connect(**MYSQL, database=name) as con, con.cursor() as cur:
        cur.execute("SELECT count(*) FROM orders WHERE id IN (3, 50, 150)")  # edited item / late items: kept
        assert cur.fetchone()[0] == 3
        cur.execute("SELECT qty FROM order_items WHERE order_id = 3 AND line = 1")
        assert cur.fetchone()[0] == 99
    assert any(p["kept"].get("a source row still refers to it") for p in report["periods"]
               if p["table"] == "shop.orders")

    assert cli.main(["verify", "--project-dir", str(folder)]) == 0
    store = LocalStore(folder / "archive")
    dead = sum(len(a.manifest.tombstones) for t in ("orders", "order_items")
               for a in archived_periods(store, "shop", t).values())
    run_units(folder, AS_OF + timedelta(hours=2))
    assert sum(len(a.manifest.tombstones) for t in ("orders", "order_items")
               for a in archived_periods(store, "shop", t).values()) == dead

"""Reconcile names the keys that differ between source and archive, and says ok when nothing does."""

from __future__ import annotations

import json

import duckdb
import psycopg
import pytest

from archival import cli
from tests.conftest import write_project
from tests.run.helpers import run_units

AS_OF = "2026-05-02T00:00:00Z"
SPEC = """domain: shop
owner: o@example.com
source: pg
tables:
  orders:
    relation: public.orders
    primary_key: [id]
    mode: window
    cursor: created_at
    columns:
      email: {pii: hash}
      phone: {pii: drop}
  customers: {relation: public.customers, primary_key: [id], mode: full}
"""


@pytest.fixture
def archived(pg_dsn, tmp_path, monkeypatch):
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("CREATE TABLE orders (id int PRIMARY KEY, created_at timestamp, amount numeric(12,2), "
                    "email text, phone text, note text)")
        con.execute("INSERT INTO orders SELECT g, timestamp '2026-03-01' + g * interval '1 hour', g * 1.5, "
                    "'user' || g || '@example.com', '+49' || g, 'n' || g FROM generate_series(1, 1000) g")
        con.execute("CREATE TABLE customers (id int PRIMARY KEY, name text)")
        con.execute("INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 50) g")
    monkeypatch.setenv("SHOP_DSN", pg_dsn)
    folder = write_project(tmp_path, "  pg: {type: postgres, dsn: env:SHOP_DSN}", {"shop": SPEC},
                           extra="pii: {hash_key: env:ARCHIVAL_PII_KEY}\n")
    from datetime import datetime

    run_units(folder, datetime.fromisoformat(AS_OF.replace("Z", "+00:00")))
    return folder


def _reconcile(folder, capsys, *extra):
    code = cli.main(["reconcile", "--json", "--project-dir", str(folder), *extra])
    data = json.loads(capsys.readouterr().out)
    return code, {(p["table"], p["period"]): p for p in data["periods"]}


def test_untouched_archive_is_ok(archived, capsys):
    code, periods = _reconcile(archived, capsys)
    assert code == 0 and len(periods) == 3  # March and April of orders, customers
    assert all(p["status"] == "ok" and p["source_rows"] == p["archive_rows"] for p in periods.values())


def test_unknown_period_is_bad_usage_not_a_match(archived, capsys):
    code = cli.main(["reconcile", "--project-dir", str(archived), "--period", "2026-13"])
    err = capsys.readouterr().err
    assert code == 2 and "no selected table has an archived period '2026-13'" in err and "2026-03" in err


def test_names_the_keys_that_differ(archived, capsys, pg_dsn):
    # one row deleted from an archive file (tampering below the manifest)
    march = next((archived / "archive" / "shop" / "orders").glob("period=2026-03/*.parquet"))
    duckdb.sql(f"COPY (SELECT * FROM read_parquet('{march}', hive_partitioning=false) WHERE id <> 7) "
               f"TO '{march}.tmp' (FORMAT parquet)")
    march.with_name(march.name + ".tmp").replace(march)
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("UPDATE orders SET note = 'changed' WHERE id = 42")  # changed in the source after export
        con.execute("UPDATE orders SET email = 'new@example.com' WHERE id = 43")  # a hashed column changed
        con.execute("DELETE FROM orders WHERE id = 44")  # the archive now holds an extra row
    code, periods = _reconcile(archived, capsys, "--select", "table:shop.orders")
    assert code == 1
    march = periods[("shop.orders", "2026-03")]
    assert march["status"] == "mismatch"
    assert march["missing_keys"] == [7] and march["different_keys"] == [42, 43] and march["extra_keys"] == [44]
    assert periods[("shop.orders", "2026-04")]["status"] == "ok"
    assert "example.com" not in json.dumps(list(periods.values()))  # PII never shows in the report

    code = cli.main(["reconcile", "--project-dir", str(archived), "--period", "2026-03", "-s", "domain:shop"])
    out = capsys.readouterr().out
    assert code == 1 and "shop.orders 2026-03: missing keys [7]" in out and "different keys [42, 43]" in out


def test_reconcile_flow_fails_on_mismatch(archived, prefect_server, pg_dsn):
    from archival.run.reconcile_flow import ReconcileMismatch, archival_reconcile

    assert archival_reconcile(str(archived)) is True
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("UPDATE customers SET name = 'x' WHERE id = 3")
    with pytest.raises(ReconcileMismatch, match="shop.customers full"):
        archival_reconcile(str(archived))

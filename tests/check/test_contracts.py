"""Every check kind and each on_invalid policy, on PostgreSQL rows, through the real export."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import psycopg
import pytest

from archival.archive.store import LocalStore
from archival.check.contract import ContractError
from archival.run.context import Tuning
from archival.verify.check import verify_archive
from tests.conftest import write_project
from tests.run.helpers import run_units

AS_OF = datetime(2026, 4, 1, tzinfo=UTC)
ROWS = [  # id, status, amount, code, email, note, ref
    (1, "new", Decimal("10.00"), "AB12", "ann@example.com", "ok", "r1"),
    (2, "bogus", Decimal("5.00"), "AB13", "bo@example.com", "ok", "r2"),  # allowed
    (3, "paid", Decimal("-1.00"), "AB14", "cy@example.com", "ok", "r3"),  # min
    (4, "paid", Decimal("99999.00"), "AB15", "di@example.com", "ok", "r4"),  # max
    (5, "paid", Decimal("1.00"), "zz", "ed@example.com", "ok", "r5"),  # regex
    (6, "paid", Decimal("1.00"), "AB16", "not-an-email", "ok", "r6"),  # named check valid_email
    (7, "paid", Decimal("1.00"), "AB17", "fi@example.com", "x" * 30, "r7"),  # max_length
    (8, None, Decimal("1.00"), "AB18", "gu@example.com", "ok", "r8"),  # nullable: false
    (9, "paid", Decimal("1.00"), "AB19", "ha@example.com", "ok", "r1"),  # unique (duplicate of row 1)
    (10, "paid", Decimal("2.00"), "AB20", "iv@example.com", "ok", "r10"),
    (11, "paid", Decimal("2.00"), "XY99", "jo@example.com", "ok", "r11"),  # project check: no XY codes
]
SPEC = """domain: shop
owner: o@example.com
source: pg
tables:
  orders:
    relation: public.orders
    primary_key: [id]
    mode: full
    on_invalid: {policy}
    columns:
      id: {{type: int64, nullable: false, unique: true}}
      status: {{type: string, nullable: false, allowed: [new, paid, shipped]}}
      amount: {{type: "decimal(12,2)", min: 0, max: 10000}}
      code: {{regex: "^[A-Z]{{2}}[0-9]+$", checks: [no_xy_codes]}}
      email: {{checks: [valid_email], pii: hash}}
      note: {{max_length: 20}}
      ref: {{unique: true}}
"""
PROJECT_CHECKS = '''from archival.check.registry import register_check


@register_check("no_xy_codes")
def no_xy_codes(values):
    return ~values.str.starts_with("XY")
'''


@pytest.fixture
def project(pg_dsn, tmp_path, monkeypatch):
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("CREATE TABLE orders (id int PRIMARY KEY, status text, amount numeric(12,2), code text, "
                    "email text, note text, ref text)")
        with con.cursor() as cur:
            cur.executemany("INSERT INTO orders VALUES (%s,%s,%s,%s,%s,%s,%s)", ROWS)
    monkeypatch.setenv("SHOP_DSN", pg_dsn)

    def make(policy: str):
        folder = write_project(tmp_path / policy, "  pg: {type: postgres, dsn: env:SHOP_DSN}",
                               {"shop": SPEC.format(policy=policy)}, extra="pii: {hash_key: env:ARCHIVAL_PII_KEY}\n")
        (folder / "checks.py").write_text(PROJECT_CHECKS)
        return folder
    return make


EXPECTED = {"status: isin(['new', 'paid', 'shipped'])": 1, "amount: greater_than_or_equal_to(0)": 1,
            "amount: less_than_or_equal_to(10000)": 1, "code: str_matches('^[A-Z]{2}[0-9]+$')": 1,
            "email: valid_email": 1, "note: str_length(None, 20)": 1, "status: not_nullable": 1,
            "ref: unique": 1, "code: no_xy_codes": 1}


def test_quarantine_sets_bad_rows_aside_with_reasons(project):
    folder = project("quarantine")
    _, results = run_units(folder, AS_OF, tuning=Tuning(batch_rows=4))  # small batches: uniqueness across them
    manifest = json.loads((folder / "archive" / results[0].manifest).read_bytes())
    assert manifest["contract"]["violations"] == EXPECTED
    assert manifest["quarantined_rows"] == 9 and manifest["row_count"] == 2
    q = duckdb.sql(f"SELECT id, email, _reasons FROM read_parquet('{folder}/archive/_quarantine/shop/orders/"
                   "period=full/*.parquet') ORDER BY id").fetchall()
    assert [r[0] for r in q] == [2, 3, 4, 5, 6, 7, 8, 9, 11]
    assert all(len(r[1]) == 64 for r in q)  # PII rules hold in quarantine too
    assert "not-an-email" not in json.dumps(q)
    kept = duckdb.sql(f"SELECT id FROM read_parquet('{folder}/archive/shop/orders/*/*.parquet')").fetchall()
    assert kept == [(1,), (10,)]
    assert verify_archive(LocalStore(folder / "archive"), deep=True).ok


def test_fail_publishes_nothing_and_names_the_row(project):
    folder = project("fail")
    with pytest.raises(ContractError) as caught:
        run_units(folder, AS_OF)
    message = str(caught.value)
    assert "specs/shop.yaml:5:3" in message and "shop.orders row id=2" in message
    assert "status: isin(['new', 'paid', 'shipped'])" in message and "status='bogus'" in message
    assert not (folder / "archive" / "shop").exists() and not (folder / "archive" / "_quarantine").exists()


def test_fail_masks_pii_in_the_sample(project, pg_dsn):
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("DELETE FROM orders WHERE id <> 6")
    with pytest.raises(ContractError) as caught:
        run_units(project("fail"), AS_OF)
    assert "email=***" in str(caught.value) and "not-an-email" not in str(caught.value)


def test_warn_archives_everything_and_reports(project):
    folder = project("warn")
    _, results = run_units(folder, AS_OF)
    manifest = json.loads((folder / "archive" / results[0].manifest).read_bytes())
    assert manifest["row_count"] == 11 and manifest["quarantined_rows"] == 0
    assert manifest["contract"]["violations"] == EXPECTED
    assert results[0].details["violations"] == EXPECTED


def test_declared_type_against_source_type(project, pg_dsn):
    folder = project("warn")
    spec = folder / "specs" / "shop.yaml"
    spec.write_text(spec.read_text().replace('amount: {type: "decimal(12,2)"', "amount: {type: boolean"))
    with pytest.raises(ContractError, match=r"column 'amount': `type: boolean` needs boolean, but the column is "
                                            r"decimal128\(12, 2\)"):
        run_units(folder, AS_OF)


def test_key_duplicates_are_found_across_batch_boundaries(tmp_path):
    """A key is checked against its neighbours only (rows arrive in key order): a duplicate that
    straddles two batches must still be caught. Every copy of a duplicated key is set aside: which
    copy a source returns first is undefined, so keeping one would make the archive order-dependent."""
    import sqlite3

    (tmp_path / "data").mkdir()
    with sqlite3.connect(tmp_path / "data" / "app.db") as con:
        con.execute("CREATE TABLE t (id INTEGER, v TEXT)")  # no constraint: apps do write duplicates
        con.executemany("INSERT INTO t VALUES (?, ?)", [(i, str(i)) for i in (1, 2, 3, 4, 4, 5, 6, 6, 7)])
    spec = ("domain: d\nowner: o@example.com\nsource: app\ntables:\n  t:\n    relation: t\n    primary_key: [id]\n"
            "    mode: full\n    on_invalid: quarantine\n    columns:\n      id: {unique: true}\n")
    folder = write_project(tmp_path, "  app: {type: sqlite, path: data/app.db}", {"d": spec})
    _, results = run_units(folder, AS_OF, tuning=Tuning(batch_rows=4))  # batches 1-4 | 4-6 | 7
    manifest = json.loads((folder / "archive" / results[0].manifest).read_bytes())
    assert manifest["contract"]["violations"] == {"id: unique": 4}
    assert manifest["quarantined_rows"] == 4 and manifest["row_count"] == 5

"""The MySQL DSN as DuckDB's scanner gets it: URIs become key=value pairs, compression is off
unless asked for, and a MariaDB read with it is the rows the server holds."""

from __future__ import annotations

import pytest

from archival.source.duck import connect, mysql_dsn


@pytest.mark.parametrize(("given", "expected"), [
    ("host=db user=app database=crm", "host=db user=app database=crm compress=0"),
    ("host=db compress=1", "host=db compress=1"),  # a slow link may want it: the DSN decides
    ("mysql://app:p%40ss@db:3307/crm", "host=db port=3307 user=app password=p@ss database=crm compress=0"),
    ("mysql://app@db/crm?compress=1", "host=db user=app database=crm compress=1"),
])
def test_mysql_dsn(given, expected):
    assert mysql_dsn(given) == expected


def test_uncompressed_read_returns_every_row(mysql_db):
    import pymysql

    from tests.conftest import MYSQL

    name, dsn = mysql_db
    with pymysql.connect(**MYSQL, database=name, autocommit=True) as con, con.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.executemany("INSERT INTO t VALUES (%s, %s)", [(i, f"v{i}") for i in range(1000)])
    duck = connect(("mysql",))
    duck.execute(f"ATTACH '{mysql_dsn(dsn)}' AS my (TYPE mysql, READ_ONLY)")
    assert duck.execute("SELECT count(*), sum(id), count(DISTINCT v) FROM my.t").fetchone() == (1000, 499500, 1000)


def test_no_duckdb_archival_opens_draws_a_progress_bar():
    """DuckDB draws a progress bar on stdout for any query over two seconds, piped or not (a 5M-row
    `verify --deep` printed one into its output): every connection comes from source/duck.py, off."""
    import ast

    from archival.source.duck import connect, local_connection
    from tests.conftest import ROOT

    for con in (local_connection(), connect(())):
        assert con.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0] is False
    opened_elsewhere = []
    for path in (ROOT / "archival").rglob("*.py"):
        if path == ROOT / "archival" / "source" / "duck.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "connect" and getattr(node.value, "id", "") == "duckdb":
                opened_elsewhere.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not opened_elsewhere, opened_elsewhere

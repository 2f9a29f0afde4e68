"""Probing real sources: SQLite (the demo app), PostgreSQL with data written by real NocoDB and
Directus, and MariaDB. The probe is what `plan` and `validate --connect` rely on."""

import sqlite3
from datetime import UTC, datetime

import psycopg
import pytest

from archival.demo.helpdesk import generate
from archival.source import duck
from archival.source.probe import probe_tables
from archival.spec.load import load_project
from archival.spec.select import select_tables
from tests.conftest import write_project

NOCODB_SPEC = """domain: helpdesk
owner: ops@example.com
source: nocodb
tables:
  tickets:
    relation: {schema}.tickets
    primary_key: [id]
    mode: incremental
    cursor: [updated_at, created_at]
    columns:
      First_Response__min_: {{type: int64}}
  comments:
    relation: {schema}.ticket_comments
    primary_key: [id]
    mode: window
    cursor: created_at
  labels_link:
    relation: {schema}._nc_m2m_tickets_labels
    primary_key: [tickets_id, labels_id]
"""


def _facts(folder):
    project = load_project(folder)
    return probe_tables(project, select_tables(project, []))


def test_sqlite_demo_earliest_cursor(tmp_path):
    db = tmp_path / "data" / "helpdesk.db"
    generate(db, scale=0.01)
    folder = write_project(tmp_path, "  helpdesk: {type: sqlite, path: data/helpdesk.db}", {
        "helpdesk": "domain: helpdesk\nowner: o\nsource: helpdesk\ntables:\n"
                    "  tickets: {relation: tickets, primary_key: [id], mode: incremental,\n"
                    "            cursor: [updated_at, created_at]}\n"})
    facts = _facts(folder)["helpdesk.tickets"]
    expected = sqlite3.connect(db).execute("SELECT min(created_at) FROM tickets").fetchone()[0]
    assert facts.problem is None and facts.probed
    assert facts.earliest == datetime.fromisoformat(expected).replace(tzinfo=UTC)


def test_nocodb_fixture_probe(nocodb_pg, tmp_path, monkeypatch):
    dsn, schema = nocodb_pg
    monkeypatch.setenv("NOCODB_DSN", dsn)
    folder = write_project(tmp_path, "  nocodb: {type: postgres, dsn: env:NOCODB_DSN}",
                           {"helpdesk": NOCODB_SPEC.format(schema=schema)})
    facts = _facts(folder)
    assert all(f.problem is None for f in facts.values()), facts
    with psycopg.connect(dsn) as con:
        # NocoDB stores naive UTC; updated_at is NULL until the first edit, so created_at is the floor
        expected = con.execute(f"SELECT least(min(updated_at), min(created_at)) FROM {schema}.tickets").fetchone()[0]
    assert facts["helpdesk.tickets"].earliest == expected.replace(tzinfo=UTC)
    assert facts["helpdesk.labels_link"].earliest is None  # full mode: no cursor to ask about


def test_missing_columns_are_reported_with_spec_location(nocodb_pg, tmp_path, monkeypatch):
    dsn, schema = nocodb_pg
    monkeypatch.setenv("NOCODB_DSN", dsn)
    spec = NOCODB_SPEC.format(schema=schema).replace("First_Response__min_", "first_response_min")
    spec = spec.replace("cursor: created_at", "cursor: posted_at")
    folder = write_project(tmp_path, "  nocodb: {type: postgres, dsn: env:NOCODB_DSN}", {"helpdesk": spec})
    facts = _facts(folder)
    tickets, comments = facts["helpdesk.tickets"], facts["helpdesk.comments"]
    assert tickets.probed and "specs/helpdesk.yaml:5:3" in tickets.problem
    assert "has no contract column 'first_response_min'" in tickets.problem  # case matters in PostgreSQL
    assert "has no cursor column 'posted_at'" in comments.problem


def test_missing_relation(nocodb_pg, tmp_path, monkeypatch):
    dsn, _ = nocodb_pg
    monkeypatch.setenv("NOCODB_DSN", dsn)
    folder = write_project(tmp_path, "  nocodb: {type: postgres, dsn: env:NOCODB_DSN}", {
        "x": "domain: x\nowner: o\nsource: nocodb\ntables:\n  t: {relation: public.nope, primary_key: [id]}\n"})
    assert "relation 'public.nope' does not exist" in _facts(folder)["x.t"].problem


def test_directus_timestamptz_probe(directus_pg, tmp_path, monkeypatch):
    monkeypatch.setenv("DIRECTUS_DSN", directus_pg)
    folder = write_project(tmp_path, "  directus: {type: postgres, dsn: env:DIRECTUS_DSN}", {
        "d": "domain: d\nowner: o\nsource: directus\ntables:\n  tickets: {relation: public.tickets, "
             "primary_key: [id], mode: incremental, cursor: [date_updated, date_created]}\n"})
    with psycopg.connect(directus_pg) as con:
        con.execute("SET TimeZone = 'America/New_York'")  # the server's session zone must not matter
        expected = con.execute("SELECT min(date_created) FROM public.tickets").fetchone()[0]
    assert _facts(folder)["d.tickets"].earliest == expected


def test_mysql_naive_timestamps_in_declared_zone(mysql_db, tmp_path, monkeypatch):
    import pymysql

    name, dsn = mysql_db
    with pymysql.connect(host="127.0.0.1", user="root", database=name, autocommit=True) as con, con.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, created_at DATETIME(3), INDEX (created_at))")
        cur.execute("INSERT INTO orders VALUES (1, '2025-03-30 01:30:00.250'), (2, '2025-07-01 12:00:00'), (3, NULL)")
    monkeypatch.setenv("ERP_DSN", dsn)
    folder = write_project(tmp_path, "  erp: {type: mysql, dsn: env:ERP_DSN, timezone: Europe/Berlin}", {
        "erp": "domain: erp\nowner: o\nsource: erp\ntables:\n  orders: {relation: orders, primary_key: [id], "
               "mode: window, cursor: created_at}\n"})
    # 01:30 in Berlin on the DST morning is still CET (+01:00)
    assert _facts(folder)["erp.orders"].earliest == datetime(2025, 3, 30, 0, 30, 0, 250000, tzinfo=UTC)


def test_unreachable_source_never_leaks_the_password(tmp_path, monkeypatch):
    monkeypatch.setenv("SALES_DSN", "postgresql://app:canary-S3cret@127.0.0.1:1/sales")
    folder = write_project(tmp_path, "  sales: {type: postgres, dsn: env:SALES_DSN}", {
        "s": "domain: s\nowner: o\nsource: sales\ntables:\n  t: {relation: t, primary_key: [id]}\n"})
    facts = _facts(folder)["s.t"]
    assert not facts.probed and "cannot be attached" in facts.problem
    assert "canary-S3cret" not in facts.problem


def test_missing_env_var_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_SET_DSN", raising=False)
    folder = write_project(tmp_path, "  sales: {type: postgres, dsn: env:NOT_SET_DSN}", {
        "s": "domain: s\nowner: o\nsource: sales\ntables:\n  t: {relation: t, primary_key: [id]}\n"})
    assert "environment variable NOT_SET_DSN is not set" in _facts(folder)["s.t"].problem


def test_sources_are_attached_read_only(tmp_path):
    db = tmp_path / "app.db"
    sqlite3.connect(db).executescript("CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);")
    folder = write_project(tmp_path, "  app: {type: sqlite, path: app.db}", {})
    project = load_project(folder)
    con = duck.connect(("sqlite",))
    duck.attach(con, project.sources["app"], project.root)
    with pytest.raises(Exception, match="read-only|read only"):
        con.execute("INSERT INTO src.t VALUES (2)")
    assert sqlite3.connect(db).execute("SELECT count(*) FROM t").fetchone()[0] == 1


def test_cursor_of_wrong_type_is_reported(tmp_path):
    db = tmp_path / "app.db"
    sqlite3.connect(db).executescript("CREATE TABLE t (id INTEGER PRIMARY KEY, version INTEGER, at DATETIME)")
    folder = write_project(tmp_path, "  app: {type: sqlite, path: app.db}", {
        "s": "domain: s\nowner: o\nsource: app\ntables:\n  t: {relation: t, primary_key: [id], mode: window, "
             "cursor: [version, at]}\n"})
    problem = _facts(folder)["s.t"].problem
    assert "cursor column 'version' of type BIGINT, which is not a date or timestamp" in problem


def test_a_connection_dropped_mid_probe_is_asked_again_on_a_fresh_one(nocodb_pg, tmp_path, monkeypatch):
    """The probe of a table whose connection was killed (a transient error) is repeated on a fresh
    connection; a source that stays wrong is not retried forever."""
    from archival.source import probe

    dsn, schema = nocodb_pg
    monkeypatch.setenv("NOCODB_DSN", dsn)
    folder = write_project(tmp_path, "  nocodb: {type: postgres, dsn: env:NOCODB_DSN}",
                           {"helpdesk": NOCODB_SPEC.format(schema=schema)})
    monkeypatch.setattr(probe.time, "sleep", lambda _: None)
    real, calls = probe._probe_table, []

    def killed_once(con, source, table, request):
        calls.append(table.name)
        if table.name == "tickets" and calls.count("tickets") == 1:  # what a killed backend answers
            return probe.TableFacts(problem=f"{table.location}: cannot read the column types: server closed the "
                                    "connection unexpectedly", probed=True)
        return real(con, source, table, request)

    monkeypatch.setattr(probe, "_probe_table", killed_once)
    facts = _facts(folder)
    assert calls.count("tickets") == 2 and facts["helpdesk.tickets"].problem is None
    assert facts["helpdesk.comments"].problem is None

    tries: list[int] = []
    monkeypatch.setattr(probe, "_probe_table",
                        lambda *a: tries.append(1) or probe.TableFacts(problem="x: timeout", probed=True))
    assert _facts(folder)["helpdesk.tickets"].problem == "x: timeout"  # asked PROBE_ATTEMPTS times, then said
    assert len(tries) == probe.PROBE_ATTEMPTS * 3

"""Round trip on data real low-code software wrote (tests/fixtures/*.dump, NocoDB and Directus in
PostgreSQL): export every app table, restore every one into a fresh PostgreSQL database, a fresh
MariaDB database and a SQLite file, and compare row by row with the source (EXCEPT ALL both ways,
through DuckDB, each side cast to the archive's type of the column): 0 differences, and in
PostgreSQL the restored columns have the source's own types, nullability and primary key."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from archival import cli
from archival.archive.read import duckdb_type
from archival.archive.state import archived_periods
from archival.archive.store import LocalStore
from archival.source import duck
from archival.spec.model import Source
from tests.conftest import mysql_database, pg_database, write_project
from tests.run.helpers import run_units

AS_OF = datetime(2026, 11, 26, 12, tzinfo=UTC)  # the fixtures were written on 2026-11-25

NOCODB = """domain: helpdesk
owner: o@example.com
source: app
defaults: {{period: day, lag: 1h}}
tables:
  agents: {{relation: {s}.agents, primary_key: [id], mode: full}}
  customers: {{relation: {s}.customers, primary_key: [id], mode: full}}
  labels: {{relation: {s}.labels, primary_key: [id], mode: full}}
  tickets: {{relation: {s}.tickets, primary_key: [id], mode: incremental, cursor: [updated_at, created_at]}}
  ticket_comments: {{relation: {s}.ticket_comments, primary_key: [id], mode: window, cursor: created_at}}
  ticket_labels: {{relation: {s}._nc_m2m_tickets_labels, primary_key: [tickets_id, labels_id], mode: full}}
"""
DIRECTUS = """domain: helpdesk
owner: o@example.com
source: app
defaults: {period: month, lag: 1h}
tables:
  agents: {relation: public.agents, primary_key: [id], mode: full}
  customers: {relation: public.customers, primary_key: [id], mode: full}
  labels: {relation: public.labels, primary_key: [id], mode: full}
  tickets: {relation: public.tickets, primary_key: [id], mode: incremental, cursor: [date_updated, date_created]}
  ticket_comments: {relation: public.ticket_comments, primary_key: [id], mode: window, cursor: created}
  ticket_labels: {relation: public.tickets_labels, primary_key: [id], mode: full}
"""


def _pg_columns(dsn: str, schema: str, table: str) -> list[tuple]:
    with psycopg.connect(dsn) as con:
        columns = con.execute(
            "SELECT column_name, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM information_schema.columns c "
            "JOIN pg_attribute a ON a.attrelid = format('%%I.%%I', c.table_schema, c.table_name)::regclass "
            "AND a.attname = c.column_name WHERE table_schema = %s AND table_name = %s ORDER BY column_name",
            (schema, table)).fetchall()
        key = con.execute("SELECT array_agg(a.attname ORDER BY a.attname) FROM pg_index i JOIN pg_attribute a ON "
                          "a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indisprimary AND "
                          "i.indrelid = format('%%I.%%I', %s::text, %s::text)::regclass", (schema, table)).fetchone()
    return [*columns, ("primary key", key[0])]


def _differences(source: Source, relation: str, target: Source, name: str, typed: list[tuple[str, str]]) -> tuple:
    """Rows only in the source, rows only in the target (each side cast to the archive's types)."""
    with duck.POOL.connection(tuple({source.type, target.type})) as con:
        duck.attach(con, source, Path("/"), alias="src")
        duck.attach(con, target, Path("/"), alias="dst")
        try:
            cast = ", ".join(f'CAST("{c}" AS {t})' for c, t in typed)
            src = f"SELECT {cast} FROM src.{relation}"
            dst = f"SELECT {cast} FROM dst.{name}"
            return tuple(con.execute(f"SELECT count(*) FROM ({a} EXCEPT ALL {b})").fetchone()[0]
                         for a, b in ((src, dst), (dst, src)))
        finally:
            con.execute("DETACH src")
            con.execute("DETACH dst")


def _round_trip(tmp_path, monkeypatch, capsys, source_dsn: str, spec: str, relations: dict[str, str]) -> None:
    monkeypatch.setenv("APP_DSN", source_dsn)
    folder = write_project(tmp_path, "  app: {type: postgres, dsn: env:APP_DSN}", {"helpdesk": spec})
    _, results = run_units(folder, AS_OF)
    assert {r.outcome for r in results} == {"written"}, [(r.unit_id, r.outcome, r.error) for r in results]
    store = LocalStore(folder / "archive")
    typed = {}
    for table in relations:
        latest = max(archived_periods(store, "helpdesk", table).values(), key=lambda a: a.period).manifest
        typed[table] = [(c.name, duckdb_type(c.type)) for c in latest.columns]
    source = Source("app", "postgres", dsn=source_dsn)
    with pg_database() as pg_dsn, mysql_database() as (_, mysql_dsn):
        targets = {"postgres": (pg_dsn, Source("t", "postgres", dsn=pg_dsn), "public."),
                   "mysql": (mysql_dsn, Source("t", "mysql", dsn=mysql_dsn), ""),
                   "sqlite": (str(tmp_path / "restored.db"), Source("t", "sqlite", path=str(tmp_path / "restored.db")),
                              "")}
        for engine, (to, target, prefix) in targets.items():
            monkeypatch.setenv("RESTORE_TO", to)
            to_arg = to if engine == "sqlite" else "env:RESTORE_TO"
            assert cli.main(["restore", "--project-dir", str(folder), "-s", "domain:helpdesk", "--to", to_arg]) == 0
            out = capsys.readouterr().out
            assert out.count("verified by fingerprint") == len(relations), out
            for table, relation in relations.items():
                assert _differences(source, relation, target, prefix + table, typed[table]) == (0, 0), (engine, table)
        schema = relations["agents"].split(".")[0]
        for table, relation in relations.items():
            assert _pg_columns(pg_dsn, "public", table) == _pg_columns(source_dsn, schema, relation.split(".")[1])


def test_nocodb_helpdesk_restores_exactly_into_postgres_mariadb_and_sqlite(nocodb_pg, tmp_path, monkeypatch, capsys):
    dsn, schema = nocodb_pg
    relations = {"agents": "agents", "customers": "customers", "labels": "labels", "tickets": "tickets",
                 "ticket_comments": "ticket_comments", "ticket_labels": "_nc_m2m_tickets_labels"}
    _round_trip(tmp_path, monkeypatch, capsys, dsn, NOCODB.format(s=schema),
                {t: f"{schema}.{r}" for t, r in relations.items()})


def test_directus_helpdesk_restores_exactly_into_postgres_mariadb_and_sqlite(directus_pg, tmp_path, monkeypatch,
                                                                              capsys):
    relations = {"agents": "agents", "customers": "customers", "labels": "labels", "tickets": "tickets",
                 "ticket_comments": "ticket_comments", "ticket_labels": "tickets_labels"}
    _round_trip(tmp_path, monkeypatch, capsys, directus_pg, DIRECTUS, {t: f"public.{r}" for t, r in relations.items()})


def test_a_table_that_exists_is_refused_before_any_is_written(small_demo_db, tmp_path, demo_project, capsys,
                                                              monkeypatch):
    """--if-exists fail (the default) is checked for every selected table before the first is loaded."""
    import shutil

    monkeypatch.setenv("ARCHIVAL_PII_KEY", "k" * 32)
    (demo_project / "data").mkdir()
    shutil.copy(small_demo_db, demo_project / "data" / "helpdesk.db")
    run_units(demo_project, AS_OF)
    target = tmp_path / "restored.db"
    with sqlite3.connect(target) as con:
        con.execute("CREATE TABLE tickets (x INTEGER)")
    con.close()
    args = ["restore", "--project-dir", str(demo_project), "-s", "domain:helpdesk", "--to", str(target)]
    assert cli.main(args) == 2
    assert "table tickets exists; restore with --if-exists replace" in capsys.readouterr().err
    tables = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    with closing(sqlite3.connect(target)) as con:
        assert [r[0] for r in con.execute(tables)] == ["tickets"]
    assert cli.main([*args, "--if-exists", "replace"]) == 0
    with closing(sqlite3.connect(target)) as con:
        assert [r[0] for r in con.execute(tables)] == sorted(["agents", "labels", "customers", "tickets",
                                                               "ticket_comments", "ticket_labels"])
        assert con.execute("SELECT count(*) FROM tickets").fetchone()[0] == 800


def test_a_file_that_is_not_sqlite_is_named(tmp_path, demo_project, small_demo_db, capsys, monkeypatch):
    import shutil

    monkeypatch.setenv("ARCHIVAL_PII_KEY", "k" * 32)
    (demo_project / "data").mkdir()
    shutil.copy(small_demo_db, demo_project / "data" / "helpdesk.db")
    run_units(demo_project, AS_OF, select=["table:helpdesk.labels"])
    target = tmp_path / "not-sqlite.db"
    target.write_text("hello")
    assert cli.main(["restore", "--project-dir", str(demo_project), "-s", "table:helpdesk.labels",
                     "--to", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"archival restore: sqlite file {target}: ") and "not a database" in err, err
    assert target.read_text() == "hello"

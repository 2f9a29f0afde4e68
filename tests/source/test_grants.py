"""`archival grants` on the helpdesk that real NocoDB wrote: its statements, applied to fresh roles,
let the export role export and reconcile and nothing else (an INSERT fails), and the purge role
purge; `validate --connect` warns about a superuser export role and fails with --strict."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from archival import cli
from tests.conftest import write_project
from tests.run.helpers import run_units

SPEC = """domain: helpdesk
owner: o@example.com
source: app
defaults: {{period: day, lag: 1h}}
tables:
  tickets: {{relation: {s}.tickets, primary_key: [id], mode: incremental, cursor: [updated_at, created_at]}}
  ticket_comments:
    relation: {s}.ticket_comments
    primary_key: [id]
    mode: window
    cursor: created_at
    purge: {{after: 30d, pause: 0s}}
"""


def _apply(dsn: str, sql: str) -> None:
    statements = "\n".join(line for line in sql.splitlines() if not line.startswith("--")).split(";")
    with psycopg.connect(dsn, autocommit=True) as con:
        for statement in statements:
            if statement.strip():
                con.execute(statement)


def test_grants_are_enough_and_no_more(nocodb_pg, tmp_path, monkeypatch, capsys):
    dsn, schema = nocodb_pg
    suffix = uuid.uuid4().hex[:8]
    reader, purger = f"grants_read_{suffix}", f"grants_purge_{suffix}"
    monkeypatch.setenv("APP_DSN", dsn.replace("user=postgres", f"user={reader}"))
    monkeypatch.setenv("APP_PURGE_DSN", dsn.replace("user=postgres", f"user={purger}"))
    folder = write_project(tmp_path, "  app: {type: postgres, dsn: env:APP_DSN, purge_dsn: env:APP_PURGE_DSN, "
                                     "platform: nocodb}", {"helpdesk": SPEC.format(s=schema)})
    capsys.readouterr()
    assert cli.main(["grants", "--project-dir", str(folder), "--source", "app", "--role", reader,
                     "--purge-role", purger]) == 0
    sql = capsys.readouterr().out
    assert "DELETE" in sql.split("-- the purge role")[1] and "DELETE" not in sql.split("-- the purge role")[0]
    assert '"public"."nc_audit_v2"' in sql  # the platform's delete trail: read for tombstone times
    with psycopg.connect(dsn, autocommit=True) as con:
        for role in (reader, purger):
            con.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        _apply(dsn, sql)
        run_units(folder, datetime(2026, 11, 26, 12, tzinfo=UTC))
        assert cli.main(["reconcile", "--project-dir", str(folder)]) == 0
        with psycopg.connect(dsn.replace("user=postgres", f"user={reader}"), autocommit=True) as con, \
                pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute(f"INSERT INTO {schema}.tickets (id) VALUES (999999)")
        capsys.readouterr()
        code = cli.main(["validate", "--connect", "--strict", "--project-dir", str(folder)])
        err = capsys.readouterr().err
        assert code == 0 and "export role" not in err, err
        assert cli.main(["purge", "--as-of", "2027-01-15T00:00:00Z", "--project-dir", str(folder)]) == 0

        monkeypatch.setenv("APP_DSN", dsn)  # the superuser exports: a warning, and --strict fails
        capsys.readouterr()
        assert cli.main(["validate", "--connect", "--project-dir", str(folder)]) == 0
        assert "the export role is a superuser" in capsys.readouterr().err
        assert cli.main(["validate", "--connect", "--strict", "--project-dir", str(folder)]) == 2
    finally:
        with psycopg.connect(dsn, autocommit=True) as con:
            for role in (reader, purger):
                con.execute(f'DROP OWNED BY "{role}"')
                con.execute(f'DROP ROLE "{role}"')

"""A CSV archive is read back like a Parquet one (through the archive reader, with the manifest's
types): on the helpdesk real NocoDB wrote, three runs with edits, inserts and a hard delete between
them, then reconcile (periods and the tickets -> customers relation) and `verify --deep`. Release
0.1.0 failed the second run of an incremental CSV table ("No magic bytes found")."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import psycopg

from archival import cli
from tests.conftest import write_project
from tests.run.helpers import run_units

SPEC = """domain: helpdesk
owner: support@example.com
source: nocodb
defaults: {{format: csv}}
tables:
  customers: {{relation: {schema}.customers, primary_key: [id], mode: full}}
  tickets:
    relation: {schema}.tickets
    primary_key: [id]
    mode: incremental
    cursor: [updated_at, created_at]
    period: quarter
    lookback: 1d
    columns:
      sla_hours: {{min: 0}}
  comments: {{relation: {schema}.ticket_comments, primary_key: [id], mode: window, cursor: created_at,
             period: quarter}}
relations:
  - {{from: tickets.customers_id, to: customers.id}}
"""


def _reconcile(folder, capsys):
    capsys.readouterr()  # what earlier commands printed
    code = cli.main(["reconcile", "--json", "--project-dir", str(folder)])
    return code, json.loads(capsys.readouterr().out)


def test_three_runs_on_a_csv_archive_reconcile_and_verify(nocodb_pg, tmp_path, monkeypatch, capsys):
    dsn, schema = nocodb_pg
    monkeypatch.setenv("NOCODB_DSN", dsn)
    folder = write_project(tmp_path, "  nocodb: {type: postgres, dsn: env:NOCODB_DSN}",
                           {"helpdesk": SPEC.format(schema=schema)})
    _, first = run_units(folder, datetime(2026, 12, 1, tzinfo=UTC))
    assert sum(r.rows for r in first if "tickets" in r.unit_id) == 7840
    assert all(p.suffixes == [".csv", ".gz"] for p in (folder / "archive" / "helpdesk").rglob("part-*"))
    with psycopg.connect(dsn, autocommit=True) as con:  # the app keeps working
        con.execute(f"UPDATE {schema}.tickets SET status = 'closed', updated_at = '2026-12-01 10:00' WHERE id <= 5")
        con.execute(f"INSERT INTO {schema}.ticket_comments (id, created_at, body, tickets_id) "
                    f"VALUES (900001, '2025-01-15 09:00', 'late', 1)")  # a late row in a closed quarter
    _, second = run_units(folder, datetime(2026, 12, 2, tzinfo=UTC))
    written = {r.unit_id for r in second if r.outcome == "written"}
    assert "helpdesk.tickets/2026-Q4" in written and "helpdesk.comments/2025-Q1" in written
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f"DELETE FROM {schema}.tickets WHERE id = 6")  # a hard delete
    _, third = run_units(folder, datetime(2026, 12, 3, tzinfo=UTC))
    assert any(r.details.get("tombstoned") == 1 for r in third)
    code, report = _reconcile(folder, capsys)
    assert code == 0, [p for p in report["periods"] if p["status"] != "ok"]
    assert report["relations"][0]["status"] == "ok"
    assert cli.main(["verify", "--deep", "--project-dir", str(folder)]) == 0

    with psycopg.connect(dsn, autocommit=True) as con:  # a change no cursor sees: reconcile names the key
        con.execute(f"UPDATE {schema}.customers SET name = 'renamed' WHERE id = 7")
    code, report = _reconcile(folder, capsys)
    customers = next(p for p in report["periods"] if p["table"] == "helpdesk.customers")
    assert code == 1 and customers["different_keys"] == [7]

"""The repair path on data real NocoDB wrote (tests/fixtures/nocodb_helpdesk.dump): deleting a parent
row nulls the children's link column without touching `updated_at`, so no incremental read sees it
and reconcile reports it on every run. `reconcile --repair` refreshes exactly the periods it found
different, through the Prefect flow: afterwards reconcile exits 0, the archive holds the corrected
rows, the earlier version still holds what was archived before, and the audit chain says why."""

from __future__ import annotations

import json

import duckdb
import psycopg

from archival import cli
from archival.archive import layout
from archival.archive.audit_log import read_chain
from archival.archive.state import archived_periods
from archival.archive.store import LocalStore
from tests.conftest import write_project
from tests.run.helpers import archived_sql

SPEC = """domain: helpdesk
owner: o@example.com
source: nocodb
tables:
  tickets:
    relation: {schema}.tickets
    primary_key: [id]
    mode: incremental
    cursor: [updated_at, created_at]
    period: day
    lag: 1h
    columns:
      body: {{pii: hash}}
"""


def test_reconcile_repair_fixes_the_link_nocodb_nulls_without_moving_the_cursor(
        nocodb_pg, tmp_path, monkeypatch, capsys, prefect_server):
    dsn, schema = nocodb_pg
    monkeypatch.setenv("NOCODB_DSN", dsn)
    monkeypatch.setenv("ARCHIVAL_PII_KEY", "k" * 32)
    folder = write_project(tmp_path, "  nocodb: {type: postgres, dsn: env:NOCODB_DSN}",
                           {"helpdesk": SPEC.format(schema=schema)}, extra="pii: {hash_key: env:ARCHIVAL_PII_KEY}\n")
    args = ["--project-dir", str(folder)]
    assert cli.main(["run", *args, "--as-of", "2026-11-26T00:00:00Z", "--no-progress"]) == 0
    with psycopg.connect(dsn, autocommit=True) as con:  # what NocoDB does when a customer is deleted
        orphaned = [r[0] for r in con.execute(f"SELECT id FROM {schema}.tickets WHERE customers_id = 1010 ORDER BY id")]
        con.execute(f"DELETE FROM {schema}.customers WHERE id = 1010")
        con.execute(f"UPDATE {schema}.tickets SET customers_id = NULL WHERE customers_id = 1010")
    assert len(orphaned) == 16
    capsys.readouterr()

    assert cli.main(["reconcile", *args]) == 1
    assert f"helpdesk.tickets 2026-11-25: different keys {orphaned}" in capsys.readouterr().out
    assert cli.main(["run", *args, "--no-progress"]) == 0  # a scheduled run does not see it
    capsys.readouterr()
    assert cli.main(["reconcile", *args]) == 1

    capsys.readouterr()
    assert cli.main(["reconcile", *args, "--repair", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    reason = "reconcile --repair: 0 missing, 16 different, 0 extra row(s) in 1 period(s)"
    assert f"repair: {reason}" in err and "after the repair" in err and "Traceback" not in err
    assert out.rstrip().endswith("reconcile: 1 period(s), 0 relation(s), all match")
    assert cli.main(["reconcile", *args]) == 0

    store = LocalStore(folder / "archive")
    rows = duckdb.sql(f"SELECT id, customers_id FROM {archived_sql(folder, 'helpdesk', 'tickets')} "
                      f"WHERE id IN ({', '.join(map(str, orphaned))})").fetchall()
    assert sorted(rows) == [(i, None) for i in orphaned]  # corrected in place of the version, not added
    current = archived_periods(store, "helpdesk", "tickets")["2026-11-25"]
    assert current.version == 2
    before = json.loads(store.read_bytes(layout.manifest_path("helpdesk", "tickets", "2026-11-25", 1)))
    old_files = [str(folder / "archive" / f["path"]) for f in before["files"]]
    old_rows = duckdb.sql(f"SELECT count(*) FROM read_parquet({old_files}) WHERE customers_id = 1010")
    assert old_rows.fetchone()[0] == 16  # the earlier version still reads as it was archived
    refreshed = [e for _, _, e in read_chain(store) if e.get("refresh")]
    assert [(e["unit"], e["refresh"]) for e in refreshed] == [("helpdesk.tickets/2026-11-25", reason)]
    assert cli.main(["verify", *args, "--deep"]) == 0

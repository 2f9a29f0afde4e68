"""A delete that the platform's audit trail recorded becomes a tombstone with the delete's own time
(NocoDB `nc_audit_v2` DATA_DELETE, on the fixture real NocoDB wrote); a delete it did not record
(SQL past the app, a cascade) is still found by the key comparison, its tombstone without a time."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import psycopg

from archival import cli
from archival.archive.state import archived_periods
from archival.archive.store import LocalStore
from tests.conftest import write_project

SPEC = """domain: helpdesk
owner: o@example.com
source: app
tables:
  tickets:
    relation: {schema}.tickets
    primary_key: [id]
    mode: incremental
    cursor: [updated_at, created_at]
    period: day
    lag: 1h
"""


def test_audited_deletes_carry_their_time(nocodb_pg, tmp_path, monkeypatch, capsys):
    dsn, schema = nocodb_pg
    monkeypatch.setenv("APP_DSN", dsn)
    folder = write_project(tmp_path, "  app: {type: postgres, dsn: env:APP_DSN, platform: nocodb}",
                           {"helpdesk": SPEC.format(schema=schema)})
    args = ["--project-dir", str(folder), "--no-progress"]
    assert cli.main(["run", *args, "--as-of", "2026-11-26T12:00:00Z"]) == 0
    with psycopg.connect(dsn, autocommit=True) as con:  # what NocoDB writes when a record is deleted in its UI
        audited, silent = [r[0] for r in con.execute(f"SELECT id FROM {schema}.tickets ORDER BY id LIMIT 2")]
        con.execute("INSERT INTO nc_audit_v2 (id, source_id, base_id, fk_model_id, row_id, op_type, status, "
                    "created_at, updated_at) SELECT gen_random_uuid(), source_id, base_id, id, %s, 'DATA_DELETE', "
                    "'success', '2026-11-26 13:05:00+00', '2026-11-26 13:05:00+00' FROM nc_models_v2 WHERE "
                    "table_name = 'tickets'", (str(audited),))
        con.execute(f"DELETE FROM {schema}.tickets WHERE id IN (%s, %s)", (audited, silent))
    assert cli.main(["run", *args, "--as-of", "2026-11-27T00:00:00Z"]) == 0
    store = LocalStore(folder / "archive")
    files = [str(folder / "archive" / f.path) for a in archived_periods(store, "helpdesk", "tickets").values()
             for f in a.manifest.tombstones]
    found = dict(duckdb.sql(f"SELECT id, deleted_at FROM read_parquet({files})").fetchall())
    assert found == {audited: datetime(2026, 11, 26, 13, 5, tzinfo=UTC), silent: None}
    capsys.readouterr()
    assert cli.main(["query", "--project-dir", str(folder), "--format", "csv", "--sql",
                     "select count(*) from helpdesk.tickets"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "7838"  # 7,840 in the fixture, 2 deleted

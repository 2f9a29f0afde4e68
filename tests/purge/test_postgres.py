"""Purge on PostgreSQL, on the helpdesk that real NocoDB wrote (tests/fixtures/nocodb_helpdesk.dump):
the export reads with a role that may only SELECT (and cannot DELETE), the purge deletes with a role of
its own; rows a concurrent transaction holds locked wait for a later run; the invariant holds."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from archival import cli
from archival.archive.state import archived_periods
from archival.archive.store import LocalStore
from tests.conftest import write_project
from tests.purge.invariant import assert_purged_rows_archived, source_state
from tests.run.helpers import run_units

EXPORT_AS_OF = datetime(2026, 11, 26, 12, tzinfo=UTC)  # the fixture was written on 2026-11-25
PURGE_AS_OF = "2027-01-15T00:00:00+00:00"
SPEC = """domain: helpdesk
owner: o@example.com
source: app
defaults: {{period: day, lag: 1h}}
tables:
  tickets:
    relation: {s}.tickets
    primary_key: [id]
    mode: incremental
    cursor: [updated_at, created_at]
    purge: {{after: 30d, batch_rows: 3000, pause: 0s, lock_timeout: 1s}}
  ticket_comments:
    relation: {s}.ticket_comments
    primary_key: [id]
    mode: window
    cursor: created_at
    purge: {{after: 30d, batch_rows: 5000, pause: 0s, lock_timeout: 1s}}
  ticket_labels: {{relation: {s}._nc_m2m_tickets_labels, primary_key: [tickets_id, labels_id], mode: full}}
relations:
  - {{from: ticket_comments.tickets_id, to: tickets.id}}
  - {{from: ticket_labels.tickets_id, to: tickets.id}}
"""
TABLES = ("helpdesk.tickets", "helpdesk.ticket_comments")


@pytest.fixture
def roles(nocodb_pg):
    """An export role that may only read the app schema and a purge role that may also delete."""
    dsn, schema = nocodb_pg
    suffix = uuid.uuid4().hex[:8]
    reader, purger = f"archival_read_{suffix}", f"archival_purge_{suffix}"
    with psycopg.connect(dsn, autocommit=True) as con:
        for role in (reader, purger):
            con.execute(f'CREATE ROLE "{role}" LOGIN')
            con.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
            con.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
        con.execute(f'GRANT DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{purger}"')
    yield dsn.replace("user=postgres", f"user={reader}"), dsn.replace("user=postgres", f"user={purger}"), schema
    with psycopg.connect(dsn, autocommit=True) as con:
        for role in (reader, purger):
            con.execute(f'DROP OWNED BY "{role}"')
            con.execute(f'DROP ROLE "{role}"')


def _purge(folder, capsys, *extra):
    capsys.readouterr()
    code = cli.main(["purge", "--json", "--as-of", PURGE_AS_OF, "--project-dir", str(folder), *extra])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out.strip() else {}), captured.err


def test_purge_nocodb_helpdesk_on_postgres(roles, tmp_path, monkeypatch, capsys):
    reader, purger, schema = roles
    monkeypatch.setenv("APP_DSN", reader)
    monkeypatch.setenv("APP_PURGE_DSN", reader)  # first the export's own role: refused
    folder = write_project(tmp_path, "  app: {type: postgres, dsn: env:APP_DSN, purge_dsn: env:APP_PURGE_DSN}",
                           {"helpdesk": SPEC.format(s=schema)})
    run_units(folder, EXPORT_AS_OF)  # the export reads with the SELECT-only role
    with psycopg.connect(reader, autocommit=True) as con, pytest.raises(psycopg.errors.InsufficientPrivilege):
        con.execute(f"DELETE FROM {schema}.ticket_comments WHERE id = 1")
    code, _, err = _purge(folder, capsys)
    assert code == 1 and "may not DELETE" in err and "archival_read_" not in err.split("(")[0]

    monkeypatch.setenv("APP_PURGE_DSN", purger)
    dsn = purger.replace(purger.split("user=")[1].split()[0], "postgres")
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f"CREATE TABLE {schema}.comments_before AS SELECT * FROM {schema}.ticket_comments")
    before = {name: source_state(folder, name, None) for name in TABLES}
    with psycopg.connect(dsn) as holder:  # another transaction holds one comment's row lock
        locked = holder.execute(f"SELECT id FROM {schema}.ticket_comments ORDER BY id LIMIT 1 FOR UPDATE"
                                ).fetchone()[0]
        code, dry, err = _purge(folder, capsys, "--dry-run")  # a dry run takes no locks: it waits for nothing
        assert code == 0 and dry["deleted"] > 15_000, err
        code, real, err = _purge(folder, capsys)
        holder.rollback()
    assert code == 0, err
    comments = next(p for p in real["periods"] if p["table"] == "helpdesk.ticket_comments")
    assert comments["kept"].get("locked or changed by another transaction") == 5000  # the locked row's batch
    dry_comments = next(p for p in dry["periods"] if p["table"] == "helpdesk.ticket_comments")
    assert comments["deleted"] == dry_comments["deleted"] - 5000  # (their tickets stay: comments refer to them)
    after = {name: source_state(folder, name, None) for name in TABLES}
    gone = {name: assert_purged_rows_archived(folder, name, before[name], after[name]) for name in TABLES}
    assert sum(gone.values()) == real["deleted"]
    with psycopg.connect(dsn) as con:
        assert con.execute(f"SELECT count(*) FROM {schema}.ticket_comments WHERE id = %s", (locked,)).fetchone()[0]
        orphans = con.execute(f"SELECT count(*) FROM {schema}.ticket_comments c WHERE tickets_id IS NOT NULL AND NOT "
                              f"EXISTS (SELECT 1 FROM {schema}.tickets t WHERE t.id = c.tickets_id)").fetchone()[0]
    assert orphans == 0, "a comment lost its ticket"

    code, again, _ = _purge(folder, capsys)  # the lock is gone: the next run takes the rest
    assert code == 0 and again["deleted"] >= 5000
    with psycopg.connect(dsn) as con:
        assert not con.execute(f"SELECT count(*) FROM {schema}.ticket_comments WHERE id = %s", (locked,)).fetchone()[0]
    assert cli.main(["verify", "--project-dir", str(folder)]) == 0
    assert cli.main(["reconcile", "--project-dir", str(folder)]) == 0
    store = LocalStore(folder / "archive")
    dead = sum(len(a.manifest.tombstones) for t in ("tickets", "ticket_comments")
               for a in archived_periods(store, "helpdesk", t).values())
    run_units(folder, EXPORT_AS_OF + timedelta(hours=3))
    assert sum(len(a.manifest.tombstones) for t in ("tickets", "ticket_comments")
               for a in archived_periods(store, "helpdesk", t).values()) == dead, "a purge became a tombstone"
    assert cli.main(["reconcile", "--project-dir", str(folder)]) == 0

    # undo (docs/purge.md): restore the purged comments into a staging table, insert what the source lacks
    monkeypatch.setenv("APP_RESTORE_DSN", dsn)
    assert cli.main(["restore", "-s", "table:helpdesk.ticket_comments", "--to", "env:APP_RESTORE_DSN",
                     "--table", f"{schema}.comments_back", "--project-dir", str(folder)]) == 0
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f"INSERT INTO {schema}.ticket_comments SELECT * FROM {schema}.comments_back b WHERE NOT EXISTS "
                    f"(SELECT 1 FROM {schema}.ticket_comments c WHERE c.id = b.id)")
        assert con.execute(f"SELECT count(*) FROM {schema}.ticket_comments").fetchone()[0] == \
            before["helpdesk.ticket_comments"].num_rows
    with psycopg.connect(dsn) as con:  # equal values, as PostgreSQL compares them (1 = 1.0: see docs/purge.md)
        for a, b in (("ticket_comments", "comments_before"), ("comments_before", "ticket_comments")):
            assert not con.execute(f"SELECT count(*) FROM (SELECT * FROM {schema}.{a} EXCEPT ALL "
                                   f"SELECT * FROM {schema}.{b}) d").fetchone()[0]

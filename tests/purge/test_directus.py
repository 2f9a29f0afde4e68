"""Purge on the helpdesk that real Directus wrote: its foreign keys cascade (deleting a ticket deletes
its comments and label links). The spec declares no relations; the purge finds the source's own
foreign keys and deletes only tickets nothing refers to, so no comment or link goes with them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import psycopg

from archival import cli
from tests.conftest import write_project
from tests.purge.invariant import assert_purged_rows_archived, source_state
from tests.run.helpers import run_units

SPEC = """domain: helpdesk
owner: o@example.com
source: app
defaults: {period: month, lag: 1h}
tables:
  tickets:
    relation: public.tickets
    primary_key: [id]
    mode: incremental
    cursor: [date_updated, date_created]
    purge: {after: 30d, pause: 0s}
  ticket_comments: {relation: public.ticket_comments, primary_key: [id], mode: window, cursor: created}
"""


def _counts(dsn: str) -> tuple[int, int, int]:
    with psycopg.connect(dsn) as con:
        return tuple(con.execute(f"SELECT count(*) FROM public.{t}").fetchone()[0]  # type: ignore[return-value]
                     for t in ("tickets", "ticket_comments", "tickets_labels"))


def test_cascading_foreign_keys_keep_their_parents(directus_pg, tmp_path, monkeypatch, capsys):
    dsn = directus_pg
    monkeypatch.setenv("APP_DSN", dsn)
    folder = write_project(tmp_path, "  app: {type: postgres, dsn: env:APP_DSN, purge_dsn: env:APP_DSN}",
                           {"helpdesk": SPEC})
    run_units(folder, datetime(2026, 11, 26, 12, tzinfo=UTC))
    tickets, comments, links = _counts(dsn)
    before = source_state(folder, "helpdesk.tickets", None)
    capsys.readouterr()
    assert cli.main(["purge", "--json", "--as-of", "2027-01-15T00:00:00Z", "--project-dir", str(folder)]) == 0
    report = json.loads(capsys.readouterr().out)
    deleted = report["deleted"]
    assert deleted > 0 and _counts(dsn) == (tickets - deleted, comments, links), "a cascade took rows along"
    assert sum(p["kept"].get("a source row still refers to it", 0) for p in report["periods"]) > 5000
    assert assert_purged_rows_archived(folder, "helpdesk.tickets", before,
                                       source_state(folder, "helpdesk.tickets", None)) == deleted
    assert cli.main(["reconcile", "--project-dir", str(folder)]) == 0

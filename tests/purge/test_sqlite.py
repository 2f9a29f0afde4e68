"""Purge on SQLite (the demo helpdesk app, NocoDB's layout): archive, edit rows, purge periods older
than 180 days, then every row that left the source is archived with equal content, edited rows were
kept, no comment lost its ticket, verify and reconcile pass, the next export writes no tombstones, and
a dry run reported exactly what the real run deleted."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from archival import cli
from archival.archive.state import archived_periods
from archival.archive.store import LocalStore
from tests.purge.demo import AS_OF, KEY, TABLES, db, orphans, prepare_demo
from tests.purge.invariant import assert_purged_rows_archived, source_state
from tests.run.helpers import run_units


@pytest.fixture
def demo(demo_project, small_demo_db, monkeypatch):
    return prepare_demo(demo_project, small_demo_db, monkeypatch)


def purge(folder: Path, capsys, *extra: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = cli.main(["purge", "--json", "--as-of", AS_OF.isoformat(), "--ignore-quiet-hours",
                     "--project-dir", str(folder), *extra])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def tombstones(folder: Path) -> int:
    store = LocalStore(folder / "archive")
    return sum(len(a.manifest.tombstones) for t in ("tickets", "ticket_comments")
               for a in archived_periods(store, "helpdesk", t).values())


def test_purge_deletes_only_what_the_archive_holds(demo, capsys):
    with db(demo) as con:  # edited after the export: a comment (body) and a ticket (updated_at moves it on)
        comment, body = con.execute("SELECT id, body FROM ticket_comments WHERE created_at < '2025-06-01' "
                                    "ORDER BY id LIMIT 1").fetchone()
        con.execute("UPDATE ticket_comments SET body = body || ' (edited)' WHERE id = ?", (comment,))
        ticket = con.execute("SELECT id FROM tickets WHERE coalesce(updated_at, created_at) < '2025-06-01' "
                             "ORDER BY id LIMIT 1").fetchone()[0]
        con.execute("UPDATE tickets SET status = 'closed', updated_at = '2026-11-26 00:30:00' WHERE id = ?", (ticket,))
    before = {name: source_state(demo, name, KEY) for name in TABLES}
    orphans_before, tombstones_before = orphans(demo), tombstones(demo)

    code, dry = purge(demo, capsys, "--dry-run")
    assert code == 0 and dry["dry_run"] and dry["deleted"] > 500
    assert {name: source_state(demo, name, KEY).num_rows for name in TABLES} == \
           {name: t.num_rows for name, t in before.items()}, "a dry run changed the source"

    code, real = purge(demo, capsys)
    assert code == 0 and real["deleted"] == dry["deleted"]
    assert [(p["table"], p["period"], p["deleted"], p["keys_sha256"]) for p in real["periods"]] == \
           [(p["table"], p["period"], p["deleted"], p["keys_sha256"]) for p in dry["periods"]]

    gone = {name: assert_purged_rows_archived(demo, name, before[name], source_state(demo, name, KEY))
            for name in TABLES}
    assert gone["helpdesk.ticket_comments"] > 500 and gone["helpdesk.tickets"] > 0
    assert sum(gone.values()) == real["deleted"]
    with db(demo) as con:
        assert con.execute("SELECT count(*) FROM ticket_comments WHERE id = ?", (comment,)).fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM tickets WHERE id = ?", (ticket,)).fetchone()[0] == 1
    changed = [p for p in real["periods"] if p["kept"].get("changed since export")]
    assert [(p["table"], p["kept"]["changed since export"]) for p in changed] == [("helpdesk.ticket_comments", 1)]
    assert orphans(demo) == orphans_before, "a comment lost its ticket"
    assert any(p["kept"].get("a source row still refers to it") for p in real["periods"]
               if p["table"] == "helpdesk.tickets"), "tickets with comments in newer periods must be kept"

    assert cli.main(["verify", "--project-dir", str(demo)]) == 0
    capsys.readouterr()
    assert cli.main(["reconcile", "--json", "--project-dir", str(demo)]) == 1  # only the edited comment differs
    report = json.loads(capsys.readouterr().out)
    bad = [(r["table"], r["different_keys"], r["missing"], r["extra"]) for r in report["periods"]
           if r["status"] != "ok"]
    assert bad == [("helpdesk.ticket_comments", [comment], 0, 0)]
    assert sum(r["purged"] for r in report["periods"]) == real["deleted"]

    run_units(demo, AS_OF + timedelta(hours=2))  # the next export: the edited ticket, and no tombstones
    assert tombstones(demo) == tombstones_before

    with db(demo) as con:  # the edit undone: the row equals its archived copy again, a later purge takes it
        con.execute("UPDATE ticket_comments SET body = ? WHERE id = ?", (body, comment))
    assert cli.main(["reconcile", "--project-dir", str(demo)]) == 0
    code, again = purge(demo, capsys)
    assert code == 0 and again["deleted"] >= 1
    with db(demo) as con:
        assert con.execute("SELECT count(*) FROM ticket_comments WHERE id = ?", (comment,)).fetchone()[0] == 0
    assert cli.main(["verify", "--project-dir", str(demo)]) == 0
    assert cli.main(["reconcile", "--project-dir", str(demo)]) == 0


def test_a_purge_is_opt_in(demo_project, small_demo_db, monkeypatch, capsys):
    monkeypatch.setenv("ARCHIVAL_PII_KEY", KEY.decode())
    code = cli.main(["purge", "--project-dir", str(demo_project), "--select", "table:helpdesk.tickets"])
    assert code == 2
    assert "no selected table declares `purge:`" in capsys.readouterr().err

"""Purge on SQLite (the demo helpdesk app, NocoDB's layout): archive, edit rows, purge periods older
than 180 days, then every row that left the source is archived with equal content, edited rows were
kept, no comment lost its ticket, verify and reconcile pass, the next export writes no tombstones, and
a dry run reported exactly what the real run deleted."""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archival import cli
from archival.archive.state import archived_periods
from archival.archive.store import LocalStore
from tests.purge.invariant import assert_purged_rows_archived, source_state
from tests.run.helpers import run_units

AS_OF = datetime(2026, 11, 26, tzinfo=UTC)
KEY = b"demo-only-not-a-secret"
TABLES = ("helpdesk.tickets", "helpdesk.ticket_comments")


def purge_spec(text: str) -> str:
    """The demo's spec with purges of its own: tickets too, and smaller batches than the demo's."""
    text = "\n".join(line for line in text.splitlines() if not line.startswith("    purge:")) + "\n"
    text = text.replace("    cursor: [updated_at, created_at]\n    lookback: 1d\n",
                        "    cursor: [updated_at, created_at]\n    lookback: 1d\n"
                        "    purge: {after: 180d, batch_rows: 40, pause: 0s}\n")
    window = "    mode: window\n    cursor: created_at\n"
    text = text.replace(window, window + "    purge: {after: 180d, batch_rows: 100, pause: 0s}\n")
    assert text.count("purge:") == 2
    return text


@pytest.fixture
def demo(demo_project, small_demo_db, monkeypatch):
    monkeypatch.setenv("ARCHIVAL_PII_KEY", KEY.decode())
    (demo_project / "data").mkdir()
    shutil.copy(small_demo_db, demo_project / "data" / "helpdesk.db")
    spec = demo_project / "specs" / "helpdesk.yaml"
    spec.write_text(purge_spec(spec.read_text()))
    run_units(demo_project, AS_OF)
    return demo_project


def purge(folder: Path, capsys, *extra: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = cli.main(["purge", "--json", "--as-of", AS_OF.isoformat(), "--ignore-quiet-hours",
                     "--project-dir", str(folder), *extra])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def db(folder: Path) -> sqlite3.Connection:
    return closing(sqlite3.connect(folder / "data" / "helpdesk.db", isolation_level=None))


def orphans(folder: Path) -> int:
    with db(folder) as con:
        return con.execute("SELECT count(*) FROM ticket_comments c WHERE tickets_id IS NOT NULL AND NOT EXISTS "
                           "(SELECT 1 FROM tickets t WHERE t.id = c.tickets_id)").fetchone()[0]


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

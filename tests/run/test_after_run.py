"""`reconcile: after_run`: a run compares the periods it wrote with the source before it ends; a row
that changed in the source after the export read it fails the run, names the key, and is recorded."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

import archival.run.execution as flow_module
from archival import cli
from tests.purge.demo import prepare_demo

AS_OF = "2026-11-26T10:00:00+00:00"


def _after_run(text: str) -> str:
    window = "    mode: window\n    cursor: created_at\n"
    return text.replace(window, window + "    reconcile: after_run\n")


def test_a_row_changed_during_the_export_fails_the_run(demo_project, small_demo_db, monkeypatch, capsys,
                                                       prefect_server):
    folder = prepare_demo(demo_project, small_demo_db, monkeypatch, _after_run)  # archived as of 2026-11-26 00:00
    db = folder / "data" / "helpdesk.db"
    with closing(sqlite3.connect(db)) as con, con:  # late comments: the next run writes their period again
        con.execute("INSERT INTO ticket_comments (id, tickets_id, body, created_at) SELECT max(id) + 1, 1, 'late', "
                    "'2026-03-10 12:00:00' FROM ticket_comments")
        changed = con.execute("SELECT min(id) FROM ticket_comments WHERE created_at LIKE '2026-03-%'").fetchone()[0]
    real = flow_module.reconcile_written

    def edit_then_reconcile(ctx, results, event):  # the row changes after the export read it, before the run ends
        with closing(sqlite3.connect(db)) as con, con:
            con.execute("UPDATE ticket_comments SET body = body || ' (edited)' WHERE id = ?", (changed,))
        return real(ctx, results, event)

    monkeypatch.setattr(flow_module, "reconcile_written", edit_then_reconcile)
    capsys.readouterr()
    assert cli.main(["run", "--project-dir", str(folder), "--as-of", AS_OF, "--no-progress",
                     "--ignore-quiet-hours"]) == 1
    err = capsys.readouterr().err
    assert ("helpdesk.ticket_comments 2026-03: the archive and the source differ after this run: "
            f"1 different ({changed})") in err
    record = json.loads(sorted((folder / "archive" / "_runs").glob("*.json"))[-1].read_text())
    assert record["reconcile_mismatches"] == [{"table": "helpdesk.ticket_comments", "period": "2026-03",
                                               "missing": [], "extra": [], "different": [changed]}]

    monkeypatch.setattr(flow_module, "reconcile_written", real)  # the next run re-reads nothing: it passes
    with closing(sqlite3.connect(db)) as con, con:
        con.execute("UPDATE ticket_comments SET body = replace(body, ' (edited)', '') WHERE id = ?", (changed,))
    assert cli.main(["run", "--project-dir", str(folder), "--as-of", AS_OF, "--no-progress",
                     "--ignore-quiet-hours"]) == 0

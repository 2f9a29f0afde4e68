"""The audit trail: a manual run, a run from a Prefect deployment and a failed run each leave an entry
naming the initiator and the outcome; no secret reaches an entry; deleting the newest entries or the
whole `_audit/` makes `archival audit --verify` fail and say what is missing (the head is anchored
outside the archive)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing

from archival import cli
from tests.purge.demo import prepare_demo
from tests.run.helpers import run_with_a_vanishing_table

CANARY = "canary-S3cret-7f1d"
RUN = ["--as-of", "2026-11-26T10:00:00Z", "--no-progress", "--ignore-quiet-hours"]


def _trail(folder, capsys, *extra) -> tuple[int, dict]:
    capsys.readouterr()
    code = cli.main(["audit", "--format", "json", "--project-dir", str(folder), *extra])
    return code, json.loads(capsys.readouterr().out)


def test_runs_are_audited_with_initiator_and_outcome(demo_project, small_demo_db, monkeypatch, capsys,
                                                     prefect_server):
    folder = prepare_demo(demo_project, small_demo_db, monkeypatch)  # an inline run: the first entry of its kind
    monkeypatch.setenv("ARCHIVAL_PII_KEY", CANARY)  # a secret the runs use (the key of pii: hash)
    monkeypatch.setenv("PREFECT__RUNTIME__DEPLOYMENT__NAME", "helpdesk")  # as a deployment's flow run sees it
    cli.main(["run", "--project-dir", str(folder), *RUN])
    monkeypatch.delenv("PREFECT__RUNTIME__DEPLOYMENT__NAME")

    assert run_with_a_vanishing_table(folder, monkeypatch, folder / "data" / "helpdesk.db", "labels", RUN) == 1

    with closing(sqlite3.connect(folder / "data" / "helpdesk.db")) as con, con:  # refused: the plan sees it gone
        con.execute("ALTER TABLE agents RENAME TO agents_gone")
    assert cli.main(["run", "--project-dir", str(folder), *RUN]) == 2

    code, trail = _trail(folder, capsys, "--verify")
    assert code == 0, trail["problems"]
    runs = [e for e in trail["entries"] if e["action"] == "run"]
    assert [r["outcome"] for r in runs] == ["ok", "ok", "failed", "refused"]
    assert "agents" in runs[3]["problem"] and runs[3]["initiator"]["user"]
    assert all(r["initiator"]["user"] and r["initiator"]["host"] for r in runs)
    assert runs[1]["initiator"].get("deployment") == "helpdesk" and "flow_run" in runs[1]["initiator"]
    assert "deployment" not in runs[2]["initiator"]
    assert [f["unit"] for f in runs[2]["failures"]] == ["helpdesk.labels/full"]
    assert runs[2]["failures"][0]["error_class"]
    for entry in (folder / "archive" / "_audit").iterdir():
        assert CANARY not in entry.read_text()

    entries = sorted((folder / "archive" / "_audit").glob("*.json"))
    for entry in entries[-3:]:
        entry.unlink()
    code, trail = _trail(folder, capsys, "--verify")
    assert code == 1 and any("the newest 3 are missing" in p for p in trail["problems"])
    shutil.rmtree(folder / "archive" / "_audit")
    capsys.readouterr()
    assert cli.main(["audit", "--verify", "--project-dir", str(folder)]) == 1
    assert "the whole _audit/ is gone" in capsys.readouterr().err


def test_a_damaged_anchor_file_is_named_and_still_seeds_nothing(shop_project, capsys, monkeypatch):
    """The anchor file is also the audit reader's hint (archive/audit_log.py): a damaged one is no
    hint, and `audit --verify` names it with one line, no traceback."""
    from datetime import UTC, datetime

    from archival.archive import audit_log
    from archival.archive.store import LocalStore
    from tests.run.helpers import run_units

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    run_units(shop_project, datetime(2026, 12, 1, tzinfo=UTC))
    [anchor] = (shop_project / ".archival").glob("audit-anchor-*.json")
    for damaged, why in (("{ broken", "not JSON"), ('{"sequence": "7"}', "not an anchor")):
        anchor.write_text(damaged)
        monkeypatch.setattr(audit_log, "_SEEN", {})
        audit_log.seed_from_anchor(LocalStore(shop_project / "archive"), shop_project)
        assert audit_log._SEEN == {}
        code, trail = _trail(shop_project, capsys, "--verify")
        assert code == 1 and [p for p in trail["problems"] if str(anchor) in p and why in p], trail["problems"]
        assert cli.main(["audit", "--verify", "--project-dir", str(shop_project)]) == 1
        assert "Traceback" not in capsys.readouterr().err

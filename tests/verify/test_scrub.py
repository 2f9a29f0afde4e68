"""archival scrub: four runs of --subset k/4 read every file exactly once; a flipped byte or a lost
file comes back byte for byte with --repair while the source still holds the rows, and is reported
with exit 1 when it does not."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

from archival import cli
from tests.purge.demo import prepare_demo


def _scrub(folder, capsys, *extra) -> tuple[int, dict]:
    capsys.readouterr()
    code = cli.main(["scrub", "--json", "--project-dir", str(folder), *extra])
    return code, json.loads(capsys.readouterr().out)


def test_subsets_cover_every_file_once(demo_project, small_demo_db, monkeypatch, capsys):
    folder = prepare_demo(demo_project, small_demo_db, monkeypatch)
    code, everything = _scrub(folder, capsys, "--deep")
    assert code == 0 and everything["files"] > 50
    seen = []
    for k in range(1, 5):
        code, part = _scrub(folder, capsys, "--subset", f"{k}/4")
        assert code == 0 and 0 < part["files"] < everything["files"]
        seen.append(part["files"])
    assert sum(seen) == everything["files"]
    assert cli.main(["scrub", "--project-dir", str(folder), "--subset", "3/2"]) == 2


def test_a_flipped_byte_is_repaired_from_the_source_when_it_still_matches(demo_project, small_demo_db, monkeypatch,
                                                                         capsys):
    folder = prepare_demo(demo_project, small_demo_db, monkeypatch)
    parts = sorted((folder / "archive" / "helpdesk" / "ticket_comments").glob("period=2025-0*/*.parquet"))
    flipped, lost = parts[0], parts[1]
    original, kept = flipped.read_bytes(), lost.read_bytes()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0xFF
    flipped.write_bytes(bytes(damaged))
    lost.unlink()
    code, report = _scrub(folder, capsys)
    assert code == 1 and {f["kind"] for f in report["findings"]} == {"sha256", "missing"}
    code, report = _scrub(folder, capsys, "--repair")
    assert code == 0 and len(report["repairs"]) == 2 and all(r["repaired"] for r in report["repairs"])
    assert flipped.read_bytes() == original and lost.read_bytes() == kept
    moved = list((folder / "archive" / "_orphans").rglob(flipped.name))
    assert len(moved) == 1 and moved[0].read_bytes() == bytes(damaged)  # nothing is lost, the bad copy neither
    assert cli.main(["verify", "--deep", "--project-dir", str(folder)]) == 0

    flipped.write_bytes(bytes(damaged))  # now the source changed too: it no longer reproduces the file
    period = flipped.parent.name.removeprefix("period=")
    with closing(sqlite3.connect(folder / "data" / "helpdesk.db")) as con, con:
        con.execute("UPDATE ticket_comments SET body = body || '!' WHERE id = (SELECT min(id) FROM ticket_comments "
                    "WHERE strftime('%Y-%m', created_at) = ?)", (period,))
    code, report = _scrub(folder, capsys, "--repair")
    assert code == 1 and report["unrepaired"] == [str(flipped.relative_to(folder / "archive"))]
    assert "no longer reproduces it" in report["repairs"][0]["message"]
    assert cli.main(["verify", "--project-dir", str(folder)]) == 1


def test_the_scrub_flow_repairs_and_fails_on_what_it_cannot(demo_project, small_demo_db, monkeypatch, prefect_server):
    import pytest

    from archival.run.scrub_flow import ArchiveCorrupt, archival_scrub

    folder = prepare_demo(demo_project, small_demo_db, monkeypatch)
    part = sorted((folder / "archive" / "helpdesk" / "ticket_comments").glob("period=2025-0*/*.parquet"))[0]
    original = part.read_bytes()
    part.write_bytes(original[:-8] + b"\0" * 8)
    assert archival_scrub(str(folder), parts=1) > 50
    assert part.read_bytes() == original
    part.unlink()
    with closing(sqlite3.connect(folder / "data" / "helpdesk.db")) as con, con:
        con.execute("DELETE FROM ticket_comments WHERE strftime('%Y-%m', created_at) = ?",
                    (part.parent.name.removeprefix("period="),))
    with pytest.raises(ArchiveCorrupt, match="could not be repaired from the source"):
        archival_scrub(str(folder), parts=1)


def test_an_unreadable_manifest_fails_every_part(demo_project, small_demo_db, monkeypatch, capsys):
    folder = prepare_demo(demo_project, small_demo_db, monkeypatch)
    manifest = sorted((folder / "archive" / "helpdesk" / "ticket_comments" / "_manifests").rglob("v*.json"))[0]
    manifest.write_text("{ not json")
    for k in (1, 2):  # whichever part: its files cannot be listed, so no part may say "ok"
        code, report = _scrub(folder, capsys, "--subset", f"{k}/2")
        assert code == 1 and [f["kind"] for f in report["findings"]] == ["manifest"]
        assert report["unrepaired"] == [report["findings"][0]["path"]]

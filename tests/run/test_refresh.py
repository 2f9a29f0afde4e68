"""A refresh asked for on purpose (plan/refresh.py): the source's rows replace the archived versions
they match, archived versions the source lacks stay, a new version is written only when rows
differ, and every new version is audited with the reason. SQLite, on Parquet and CSV archives."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from archival import cli
from archival.archive.audit_log import read_chain
from archival.archive.store import LocalStore
from archival.plan.refresh import NothingToRefresh, Refresh
from archival.verify.check import verify_archive
from tests.run.helpers import archived_sql, run_units
from tests.run.test_incremental import INCR, T0, WINDOW, _manifest, _sqlite

DAY = "2026-03-10"
REFRESH = Refresh("the app changed rows without moving their cursor", (f"app.items/{DAY}",))


@pytest.fixture(params=["parquet", "csv"])
def fmt(request) -> str:
    return request.param


def _rows(folder) -> list[tuple]:
    return duckdb.sql(f"SELECT id, val FROM {archived_sql(folder, 'app', 'items')} ORDER BY id, val").fetchall()


def _reconcile(folder, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["reconcile", "--project-dir", str(folder)])
    return code, capsys.readouterr().out


def test_incremental_refresh_replaces_versions_and_keeps_history(tmp_path, fmt, capsys):
    db = _sqlite(tmp_path, INCR, fmt=fmt)
    db.executemany("INSERT INTO items VALUES (?, ?, NULL, 'v')", [(i, T0) for i in range(1, 6)])
    run_units(tmp_path, (T0 + timedelta(hours=1)).replace(tzinfo=UTC))
    db.execute("UPDATE items SET val = 'silent' WHERE id = 2")  # the cursor did not move: no run sees it
    db.execute("UPDATE items SET updated_at = ?, val = 'moved' WHERE id = 4", (T0 + timedelta(minutes=20),))
    db.execute("DELETE FROM items WHERE id = 3")
    _, normal = run_units(tmp_path, (T0 + timedelta(hours=2)).replace(tzinfo=UTC))
    code, out = _reconcile(tmp_path, capsys)
    assert code == 1 and "different keys [2]" in out  # the normal run archived id 4's edit and id 3's delete

    _, results = run_units(tmp_path, (T0 + timedelta(hours=2, minutes=5)).replace(tzinfo=UTC), refresh=REFRESH)
    assert [(r.unit_id, r.outcome) for r in results] == [(f"app.items/{DAY}", "written")]
    assert results[0].details["refresh"] == REFRESH.reason
    # id 2 corrected in place of its version; id 4 keeps both versions; deleted id 3 stays, tombstoned
    assert _rows(tmp_path) == [(1, "v"), (2, "silent"), (3, "v"), (4, "moved"), (4, "v"), (5, "v")]
    manifest = _manifest(tmp_path, DAY)
    assert manifest["version"] == 3 and manifest["deleted_rows"] == 1 and len(manifest["files"]) == 1
    assert _reconcile(tmp_path, capsys)[0] == 0
    entries = [e for _, _, e in read_chain(LocalStore(tmp_path / "archive")) if e.get("refresh")]
    assert [(e["unit"], e["refresh"]) for e in entries] == [(f"app.items/{DAY}", REFRESH.reason)]
    assert verify_archive(LocalStore(tmp_path / "archive"), deep=True).ok
    # the same refresh again finds the rows as archived: no new version
    _, again = run_units(tmp_path, (T0 + timedelta(hours=2, minutes=10)).replace(tzinfo=UTC), refresh=REFRESH)
    assert [r.outcome for r in again] == ["unchanged"] and _manifest(tmp_path, DAY)["version"] == 3


def test_window_refresh_corrects_rows_and_tombstones_departed_keys(tmp_path, fmt, capsys):
    db = _sqlite(tmp_path, WINDOW, fmt=fmt)
    db.executemany("INSERT INTO items VALUES (?, ?, NULL, 'x')", [(i, T0) for i in range(1, 5)])
    run_units(tmp_path, datetime(2026, 3, 12, tzinfo=UTC))
    db.execute("UPDATE items SET val = 'fixed' WHERE id = 1")
    _, normal = run_units(tmp_path, datetime(2026, 3, 13, tzinfo=UTC))
    assert f"app.items/{DAY}" not in [r.unit_id for r in normal]  # counts and keys agree: not due
    db.execute("DELETE FROM items WHERE id = 4")
    _, results = run_units(tmp_path, datetime(2026, 3, 13, 1, tzinfo=UTC), refresh=REFRESH)
    assert [(r.unit_id, r.outcome, r.details.get("tombstoned")) for r in results] == [
        (f"app.items/{DAY}", "written", 1)]
    assert _rows(tmp_path) == [(1, "fixed"), (2, "x"), (3, "x"), (4, "x")]  # id 4 kept, tombstoned
    assert _manifest(tmp_path, DAY)["deleted_rows"] == 1
    assert _reconcile(tmp_path, capsys)[0] == 0
    assert verify_archive(LocalStore(tmp_path / "archive"), deep=True).ok


def test_refresh_does_not_set_rows_aside_twice_and_archives_fixed_ones(tmp_path, capsys):
    db = _sqlite(tmp_path, WINDOW, extra=", on_invalid: quarantine, columns: {val: {allowed: [x, y]}}")
    db.executemany("INSERT INTO items VALUES (?, ?, NULL, ?)", [(1, T0, "x"), (2, T0, "x"), (3, T0, "bad")])
    run_units(tmp_path, datetime(2026, 3, 12, tzinfo=UTC))
    assert _manifest(tmp_path, DAY)["quarantined_rows"] == 1
    _, same = run_units(tmp_path, datetime(2026, 3, 12, 1, tzinfo=UTC), refresh=REFRESH)
    assert [r.outcome for r in same] == ["unchanged"]  # the bad row is set aside already
    db.execute("UPDATE items SET val = 'y' WHERE id = 3")  # fixed in the app
    db.execute("UPDATE items SET val = 'worse' WHERE id = 2")  # broken in the app
    _, results = run_units(tmp_path, datetime(2026, 3, 12, 2, tzinfo=UTC), refresh=REFRESH)
    assert [r.outcome for r in results] == ["written"]
    assert _rows(tmp_path) == [(1, "x"), (2, "x"), (3, "y")]  # id 2's valid version is kept
    manifest = _manifest(tmp_path, DAY)
    assert manifest["quarantined_rows"] == 2 and len(manifest["quarantine"]) == 2  # old id 3, new id 2
    assert verify_archive(LocalStore(tmp_path / "archive"), deep=True).ok


def test_refresh_never_drops_an_archived_column(tmp_path):
    db = _sqlite(tmp_path, WINDOW)
    db.executemany("INSERT INTO items VALUES (?, ?, NULL, 'x')", [(i, T0) for i in range(1, 3)])
    run_units(tmp_path, datetime(2026, 3, 12, tzinfo=UTC))
    db.execute("ALTER TABLE items DROP COLUMN val")
    with pytest.raises(Exception, match="hold column\\(s\\) val that the source no longer has"):
        run_units(tmp_path, datetime(2026, 3, 12, 1, tzinfo=UTC), refresh=REFRESH)
    assert _manifest(tmp_path, DAY)["version"] == 1


def test_refresh_of_what_is_not_archived_is_refused(tmp_path, capsys, prefect_server):
    db = _sqlite(tmp_path, WINDOW)
    db.execute("INSERT INTO items VALUES (1, ?, NULL, 'x')", (T0,))
    run_units(tmp_path, datetime(2026, 3, 12, tzinfo=UTC))
    with pytest.raises(NothingToRefresh, match="app.items/2026-03-09"):
        run_units(tmp_path, datetime(2026, 3, 12, tzinfo=UTC), refresh=Refresh("r", ("app.items/2026-03-09",)))
    base = ["run", "--project-dir", str(tmp_path), "--no-progress"]
    for args, message in [([], "--refresh needs --select"), (["-s", "table:app.items"], "--refresh needs --reason"),
                          (["-s", "table:app.items", "--reason", "r", "--period", "2026-03-09"],
                           "not archived, nothing to refresh: app.items/2026-03-09")]:
        capsys.readouterr()
        assert cli.main([*base, "--refresh", *args]) == 2, args
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    capsys.readouterr()
    assert cli.main(["plan", "--project-dir", str(tmp_path), "--as-of", "2026-03-12T00:00:00Z", "-s",
                     "table:app.items", "--refresh", "--period", DAY, "-v"]) == 0
    out = capsys.readouterr().out
    assert "1 of 2 unit(s) to run (a refresh, only the refreshed periods: plan only)" in out
    assert "read -> departures -> contract -> replace -> fingerprint -> parts -> record" in out
    assert json.loads((tmp_path / "archive" / _manifest_path(tmp_path)).read_text())["version"] == 1


def _manifest_path(folder):
    return next((folder / "archive").rglob("v*.json")).relative_to(folder / "archive")

"""Fixed-data regression tests of the incremental semantics: versions, late commits, late rows in
closed windows, deletes, NULL cursors, drift, edges, DST, and a writer racing the export."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import duckdb
import psycopg
import pytest

from archival import cli
from archival.archive.state import archived_periods
from archival.archive.store import LocalStore
from archival.record.commit import DataPolicyError
from archival.verify.check import verify_archive
from tests.conftest import write_project
from tests.run.helpers import archived_sql, run_units

T0 = datetime(2026, 3, 10, 12, 0)
INCR = """domain: app
owner: o@example.com
source: s
tables:
  items: {{relation: items, primary_key: [id], mode: incremental, cursor: [updated_at, created_at], period: day,
          lag: 0s, lookback: 2h{extra}}}
"""
WINDOW = """domain: app
owner: o@example.com
source: s
tables:
  items: {{relation: items, primary_key: [id], mode: window, cursor: created_at, period: day, lag: 0s{extra}}}
"""


@pytest.fixture(params=["parquet", "csv"])
def fmt(request) -> str:
    """The SQLite tests run on a Parquet and on a CSV archive: every mode, every later run."""
    return request.param


def _sqlite(tmp_path, spec, extra="", fmt="parquet"):
    db = sqlite3.connect(tmp_path / "app.db", isolation_level=None)
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, created_at DATETIME, updated_at DATETIME, val TEXT)")
    write_project(tmp_path, "  s: {type: sqlite, path: app.db}", {"app": spec.format(extra=f"{extra}, format: {fmt}")})
    return db


def _versions(folder, table="items"):
    if not archived_periods(LocalStore(folder / "archive"), "app", table):
        return []
    return duckdb.sql(f"SELECT id, coalesce(updated_at, created_at) AS c, val FROM {archived_sql(folder, 'app', table)}"
                      " ORDER BY id, c").fetchall()


def _manifest(folder, period, table="items"):
    m = archived_periods(LocalStore(folder / "archive"), "app", table)[period]
    return json.loads((folder / "archive" / m.path).read_bytes())


def test_every_version_once_in_the_period_of_its_cursor(tmp_path, fmt):
    db = _sqlite(tmp_path, INCR, fmt=fmt)
    db.executemany("INSERT INTO items VALUES (?, ?, NULL, ?)", [(i, T0, f"v{i}") for i in range(1, 6)])
    run_units(tmp_path, (T0 + timedelta(hours=1)).replace(tzinfo=UTC))
    next_day = T0 + timedelta(days=1)
    db.execute("UPDATE items SET updated_at = ?, val = 'edited' WHERE id IN (1, 2)", (next_day,))
    _, results = run_units(tmp_path, (next_day + timedelta(hours=1)).replace(tzinfo=UTC))
    versions = _versions(tmp_path)
    assert len(versions) == 7 and len(set((i, c) for i, c, _ in versions)) == 7
    assert [(i, v) for i, c, v in versions if i == 1] == [(1, "v1"), (1, "edited")]  # history kept
    assert sorted(archived_periods(LocalStore(tmp_path / "archive"), "app", "items")) == ["2026-03-10", "2026-03-11"]
    # a rerun without source changes writes nothing
    before = sorted(p.read_bytes() for p in (tmp_path / "archive").rglob("v*.json"))
    _, again = run_units(tmp_path, (next_day + timedelta(hours=2)).replace(tzinfo=UTC))
    assert {r.outcome for r in again} <= {"unchanged"}
    assert sorted(p.read_bytes() for p in (tmp_path / "archive").rglob("v*.json")) == before
    # the latest version per key
    latest = duckdb.sql(f"""SELECT id, val FROM {archived_sql(tmp_path, 'app', 'items')}
        QUALIFY row_number() OVER (PARTITION BY id
        ORDER BY coalesce(updated_at, created_at) DESC) = 1 ORDER BY id""").fetchall()
    assert latest == [(1, "edited"), (2, "edited"), (3, "v3"), (4, "v4"), (5, "v5")]
    assert verify_archive(LocalStore(tmp_path / "archive"), deep=True).ok


def test_late_commit_below_watermark_is_picked_up_by_lookback(tmp_path, fmt):
    db = _sqlite(tmp_path, INCR, fmt=fmt)
    db.execute("INSERT INTO items VALUES (1, ?, NULL, 'a')", (T0,))
    run_units(tmp_path, (T0 + timedelta(hours=1)).replace(tzinfo=UTC))
    late = T0 + timedelta(minutes=30)  # committed after the run, stamped before its upper bound
    db.execute("INSERT INTO items VALUES (2, ?, NULL, 'late')", (late,))
    run_units(tmp_path, (T0 + timedelta(hours=2)).replace(tzinfo=UTC))
    assert [(i, v) for i, _, v in _versions(tmp_path)] == [(1, "a"), (2, "late")]
    manifest = _manifest(tmp_path, "2026-03-10")
    assert manifest["version"] == 2 and len(manifest["files"]) == 2  # appended, old part untouched
    assert manifest["source_summary"]["rows_new"] == 1


def test_window_late_rows_and_deletes_in_a_closed_period(tmp_path, fmt):
    db = _sqlite(tmp_path, WINDOW, fmt=fmt)
    db.executemany("INSERT INTO items VALUES (?, ?, NULL, 'x')", [(i, T0, ) for i in range(1, 4)])
    run_units(tmp_path, datetime(2026, 3, 12, tzinfo=UTC))
    db.execute("INSERT INTO items VALUES (10, ?, NULL, 'late')", (T0 + timedelta(hours=3),))
    db.execute("DELETE FROM items WHERE id = 2")
    code = cli.main(["plan", "--project-dir", str(tmp_path), "--as-of", "2026-03-13T00:00:00Z", "-v"])
    assert code == 0
    _, results = run_units(tmp_path, datetime(2026, 3, 13, tzinfo=UTC))
    by_id = {r.unit_id: r for r in results}
    assert set(by_id) == {"app.items/2026-03-10", "app.items/2026-03-12"}  # the changed period and the new one
    assert by_id["app.items/2026-03-10"].details == {"tombstoned": 1}
    manifest = _manifest(tmp_path, "2026-03-10")
    assert manifest["row_count"] == 4 and manifest["deleted_rows"] == 1 and len(manifest["tombstones"]) == 1
    gone = duckdb.sql(f"SELECT id FROM read_parquet('{tmp_path}/archive/{manifest['tombstones'][0]['path']}')")
    assert gone.fetchall() == [(2,)]
    _, settled = run_units(tmp_path, datetime(2026, 3, 14, tzinfo=UTC))
    assert "app.items/2026-03-10" not in [r.unit_id for r in settled]  # counts agree again
    assert verify_archive(LocalStore(tmp_path / "archive"), deep=True).ok


def test_null_cursor_partition_and_fail_policy(tmp_path, fmt):
    db = _sqlite(tmp_path, INCR, fmt=fmt)
    db.execute("INSERT INTO items VALUES (1, ?, NULL, 'a')", (T0,))
    db.execute("INSERT INTO items VALUES (2, NULL, NULL, 'no time')")
    _, results = run_units(tmp_path, (T0 + timedelta(hours=1)).replace(tzinfo=UTC))
    assert "app.items/null" in [r.unit_id for r in results]
    assert _manifest(tmp_path, "null")["row_count"] == 1
    spec = tmp_path / "specs" / "app.yaml"
    spec.write_text(spec.read_text().replace("lookback: 2h", "lookback: 2h, null_cursor: fail"))
    db.execute("INSERT INTO items VALUES (3, NULL, NULL, 'another')")
    with pytest.raises(DataPolicyError, match="NULL cursor"):
        run_units(tmp_path, (T0 + timedelta(hours=2)).replace(tzinfo=UTC), select=["table:app.items"])


def test_drift_evolve_records_and_freeze_fails(tmp_path, fmt):
    db = _sqlite(tmp_path, INCR, fmt=fmt)
    db.execute("INSERT INTO items VALUES (1, ?, NULL, 'a')", (T0,))
    run_units(tmp_path, (T0 + timedelta(hours=1)).replace(tzinfo=UTC))
    db.execute("ALTER TABLE items ADD COLUMN priority TEXT")
    db.execute("INSERT INTO items VALUES (2, ?, NULL, 'b', 'high')", (T0 + timedelta(minutes=70),))
    _, results = run_units(tmp_path, (T0 + timedelta(hours=2)).replace(tzinfo=UTC))
    change = _manifest(tmp_path, "2026-03-10")["schema_change"]
    assert change["added"] == ["priority"] and change["removed"] == []
    rows = duckdb.sql(f"SELECT id, priority FROM {archived_sql(tmp_path, 'app', 'items')} ORDER BY id").fetchall()
    assert rows == [(1, None), (2, "high")]
    assert verify_archive(LocalStore(tmp_path / "archive"), deep=True).ok

    spec = tmp_path / "specs" / "app.yaml"
    spec.write_text(spec.read_text().replace("lookback: 2h", "lookback: 2h, drift: freeze"))
    db.execute("ALTER TABLE items DROP COLUMN val")
    db.execute("UPDATE items SET updated_at = ? WHERE id = 1", (T0 + timedelta(minutes=150),))
    with pytest.raises(DataPolicyError, match="removed val"):
        run_units(tmp_path, (T0 + timedelta(hours=3)).replace(tzinfo=UTC))


def test_thousand_rows_on_one_edge_land_once(tmp_path, fmt):
    db = _sqlite(tmp_path, INCR, fmt=fmt)
    midnight = datetime(2026, 3, 11)
    db.executemany("INSERT INTO items VALUES (?, ?, NULL, 'e')", [(i, midnight) for i in range(1, 1001)])
    db.executemany("INSERT INTO items VALUES (?, ?, NULL, 'b')",
                   [(i, midnight - timedelta(microseconds=1)) for i in range(1001, 1101)])
    run_units(tmp_path, datetime(2026, 3, 11, 6, tzinfo=UTC))
    assert _manifest(tmp_path, "2026-03-11")["row_count"] == 1000
    assert _manifest(tmp_path, "2026-03-10")["row_count"] == 100
    run_units(tmp_path, datetime(2026, 3, 11, 7, tzinfo=UTC))
    assert len(_versions(tmp_path)) == 1100


def test_dst_night_days_in_berlin_with_a_non_utc_session(pg_dsn, tmp_path, monkeypatch):
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("SET TimeZone = 'America/New_York'")
        con.execute("CREATE TABLE items (id int PRIMARY KEY, created_at timestamptz NOT NULL)")
        # the 25-hour local day 2026-10-25 in Berlin runs from 22:00 UTC on the 24th to 23:00 UTC on the 25th
        instants = ["2026-10-24 21:59:59.999999+00", "2026-10-24 22:00:00+00", "2026-10-25 00:30:00+00",
                    "2026-10-25 01:30:00+00", "2026-10-25 22:59:59.999999+00", "2026-10-25 23:00:00+00"]
        for i, at in enumerate(instants, start=1):
            con.execute("INSERT INTO items VALUES (%s, %s)", (i, at))
    monkeypatch.setenv("DST_DSN", pg_dsn)
    write_project(tmp_path, "  s: {type: postgres, dsn: env:DST_DSN}", {"app": """domain: app
owner: o@example.com
source: s
schedule: {cron: "0 3 * * *", timezone: Europe/Berlin}
tables:
  items: {relation: public.items, primary_key: [id], mode: window, cursor: created_at, period: day, lag: 0s}
"""})
    run_units(tmp_path, datetime(2026, 10, 27, tzinfo=UTC))
    store = LocalStore(tmp_path / "archive")
    counts = {p: a.row_count for p, a in archived_periods(store, "app", "items").items()}
    assert counts == {"2026-10-24": 1, "2026-10-25": 4, "2026-10-26": 1}
    window = _manifest(tmp_path, "2026-10-25")["window"]
    assert (window["start"], window["end"]) == ("2026-10-24T22:00:00+00:00", "2026-10-25T23:00:00+00:00")


def test_writer_racing_the_export_loses_nothing(pg_dsn, tmp_path, monkeypatch):
    """A second connection commits rows while exports run; each run reads one snapshot, and the
    lookback picks up commits that arrived with timestamps below the previous upper bound."""
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("CREATE TABLE items (id int PRIMARY KEY, created_at timestamp NOT NULL, updated_at timestamp, "
                    "val text)")
        con.execute("INSERT INTO items SELECT g, %s, NULL, 'seed' FROM generate_series(1, 20000) g", (T0,))
    monkeypatch.setenv("RACE_DSN", pg_dsn)
    write_project(tmp_path, "  s: {type: postgres, dsn: env:RACE_DSN}",
                  {"app": INCR.format(extra="").replace("relation: items", "relation: public.items")})
    stop = threading.Event()
    written: list[tuple[int, datetime]] = []

    def writer():
        with psycopg.connect(pg_dsn, autocommit=True) as con:
            key = 100000
            while not stop.is_set() and key < 100400:
                at = T0 + timedelta(minutes=5 + (key % 50))  # below the upper bound of the next runs
                con.execute("INSERT INTO items VALUES (%s, %s, NULL, 'racing')", (key, at))
                con.execute("UPDATE items SET updated_at = %s WHERE id = %s", (at, key - 99990))
                written.append((key, at))
                key += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for minutes in (70, 80, 90):
            run_units(tmp_path, (T0 + timedelta(minutes=minutes)).replace(tzinfo=UTC))
    finally:
        stop.set()
        thread.join()
    run_units(tmp_path, (T0 + timedelta(minutes=100)).replace(tzinfo=UTC))  # after the writer stopped
    with psycopg.connect(pg_dsn) as con:
        current = set(con.execute("SELECT id, coalesce(updated_at, created_at) FROM items").fetchall())
    archived = [(i, c) for i, c, _ in _versions(tmp_path)]
    assert len(archived) == len(set(archived))  # none duplicated
    assert current <= set(archived)  # every version the source holds now is archived


def test_changing_key_cursor_or_period_is_refused_until_rebaseline(tmp_path, capsys, prefect_server):
    db = _sqlite(tmp_path, WINDOW)
    db.executemany("INSERT INTO items VALUES (?, ?, NULL, 'x')", [(i, T0) for i in range(1, 4)])
    run_units(tmp_path, datetime(2026, 3, 12, tzinfo=UTC))
    spec = tmp_path / "specs" / "app.yaml"
    spec.write_text(spec.read_text().replace("cursor: created_at", "cursor: [updated_at, created_at]")
                    .replace("mode: window", "mode: incremental"))
    code = cli.main(["plan", "--project-dir", str(tmp_path), "--as-of", "2026-03-13T00:00:00Z"])
    out = capsys.readouterr().out
    assert code == 2 and "refused until `archival rebaseline --select table:app.items`" in out
    assert "cursor ['created_at'] -> ['updated_at', 'created_at']" in out and "mode window -> incremental" in out
    assert cli.main(["run", "--project-dir", str(tmp_path), "--as-of", "2026-03-13T00:00:00Z"]) == 2
    assert cli.main(["rebaseline", "--project-dir", str(tmp_path), "--reason", "x"]) == 2  # needs --select
    capsys.readouterr()
    assert cli.main(["rebaseline", "--project-dir", str(tmp_path), "-s", "table:app.items",
                     "--reason", "track edits"]) == 0
    assert "new baseline" in capsys.readouterr().out
    code = cli.main(["plan", "--project-dir", str(tmp_path), "--as-of", "2026-03-13T00:00:00Z"])
    assert code == 0 and "changed" in capsys.readouterr().out  # re-exported under the new spec
    _, results = run_units(tmp_path, datetime(2026, 3, 13, tzinfo=UTC))
    assert results and all(r.outcome == "written" for r in results)
    assert verify_archive(LocalStore(tmp_path / "archive"), deep=True).ok
    capsys.readouterr()
    # the archive is keyed as the spec says now: a rebaseline would accept nothing and is refused
    assert cli.main(["rebaseline", "--project-dir", str(tmp_path), "-s", "table:app.items", "--reason", "again"]) == 2
    err = capsys.readouterr().err
    assert "app.items: nothing to rebaseline: its archived periods are keyed as the spec says" in err


def test_related_tables_read_as_of_one_instant(pg_dsn, tmp_path, monkeypatch):
    """Orders are written while customers are already exported: with the run's shared snapshot the
    archived orders still only reference archived customers (no orphan the source never had)."""
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("CREATE TABLE customers (id int PRIMARY KEY, name text)")
        con.execute("CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, "
                    "created_at timestamp NOT NULL)")
        con.execute("INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 100) g")
        con.execute("INSERT INTO orders SELECT g, g %% 100 + 1, %s FROM generate_series(1, 500) g", (T0,))
    monkeypatch.setenv("REL_DSN", pg_dsn)
    write_project(tmp_path, "  s: {type: postgres, dsn: env:REL_DSN}", {"app": """domain: app
owner: o@example.com
source: s
tables:
  customers: {relation: public.customers, primary_key: [id], mode: full}
  orders: {relation: public.orders, primary_key: [id], mode: full}
relations:
  - {from: orders.customer_id, to: customers.id}
"""})
    import archival.run.work as work_module

    real = work_module.export_unit

    def export_then_write(ctx, unit, lineage=None, connection=None):
        result = real(ctx, unit, lineage, connection)
        if unit.table == "customers":  # the app keeps working between the two units
            with psycopg.connect(pg_dsn, autocommit=True) as con:
                con.execute("INSERT INTO customers VALUES (101, 'new')")
                con.execute("INSERT INTO orders VALUES (501, 101, %s)", (T0,))
        return result

    monkeypatch.setattr(work_module, "export_unit", export_then_write)
    run_units(tmp_path, datetime(2026, 4, 1, tzinfo=UTC))
    root = tmp_path / "archive" / "app"
    orphans = duckdb.sql(f"""SELECT count(*) FROM read_parquet('{root}/orders/*/*.parquet') o
        ANTI JOIN read_parquet('{root}/customers/*/*.parquet') c ON o.customer_id = c.id""").fetchone()[0]
    orders = duckdb.sql(f"SELECT count(*) FROM read_parquet('{root}/orders/*/*.parquet')").fetchone()[0]
    assert (orphans, orders) == (0, 500)


def test_hard_deletes_in_incremental_tables_become_tombstones(tmp_path, fmt):
    db = _sqlite(tmp_path, INCR, fmt=fmt)
    db.executemany("INSERT INTO items VALUES (?, ?, NULL, 'v')", [(i, T0) for i in range(1, 6)])
    run_units(tmp_path, (T0 + timedelta(hours=1)).replace(tzinfo=UTC))
    later = T0 + timedelta(days=1)
    db.execute("UPDATE items SET updated_at = ? WHERE id = 1", (later,))
    db.execute("DELETE FROM items WHERE id IN (2, 3)")  # gone from the app, no cursor says so
    _, results = run_units(tmp_path, (later + timedelta(hours=1)).replace(tzinfo=UTC))
    latest = _manifest(tmp_path, "2026-03-11")
    gone = duckdb.sql(f"SELECT id FROM read_parquet('{tmp_path}/archive/{latest['tombstones'][0]['path']}') "
                      "ORDER BY id").fetchall()
    assert gone == [(2,), (3,)] and latest["deleted_rows"] == 2
    assert len(_versions(tmp_path)) == 6  # the deleted rows' history stays
    _, again = run_units(tmp_path, (later + timedelta(hours=2)).replace(tzinfo=UTC))
    assert {r.outcome for r in again} == {"unchanged"}  # counts agree now: no second tombstone
    assert verify_archive(LocalStore(tmp_path / "archive"), deep=True).ok
    assert cli.main(["reconcile", "--project-dir", str(tmp_path)]) == 0


def test_delete_check_starts_from_the_key_census_only_while_it_holds(tmp_path, monkeypatch, fmt):
    import archival.write.departures as departures_module

    censuses = []
    real = departures_module.departed_keys

    def spy(*args):
        censuses.append(args[6])
        return real(*args)

    monkeypatch.setattr(departures_module, "departed_keys", spy)
    db = _sqlite(tmp_path, INCR, fmt=fmt)
    db.executemany("INSERT INTO items VALUES (?, ?, NULL, 'v')", [(i, T0) for i in range(1, 6)])
    run_units(tmp_path, (T0 + timedelta(hours=1)).replace(tzinfo=UTC))
    later = T0 + timedelta(days=1)
    db.execute("UPDATE items SET updated_at = ? WHERE id = 1", (later,))
    db.execute("DELETE FROM items WHERE id IN (2, 3)")
    run_units(tmp_path, (later + timedelta(hours=1)).replace(tzinfo=UTC))
    census = _manifest(tmp_path, "2026-03-11")["key_census"]
    assert census["live"] == 3 and censuses == [None]  # keys 1, 4, 5; counted the first time
    db.execute("INSERT INTO items VALUES (6, ?, NULL, 'new')", (later + timedelta(minutes=90),))
    db.execute("DELETE FROM items WHERE id = 4")
    run_units(tmp_path, (later + timedelta(hours=2)).replace(tzinfo=UTC))
    latest = _manifest(tmp_path, "2026-03-11")
    assert censuses[-1] == 3  # the archive was in the census's state: no count
    files = [str(tmp_path / "archive" / t["path"]) for t in latest["tombstones"]]
    tombstoned = duckdb.sql(f"SELECT id FROM read_parquet({files}) ORDER BY id").fetchall()
    assert tombstoned == [(2,), (3,), (4,)] and latest["key_census"]["live"] == 3  # 1, 5, 6
    # past midnight: the day before gets a row within the lookback, so its manifest (which held the
    # census) is replaced before the new day's unit checks: the census no longer holds
    db.execute("INSERT INTO items VALUES (7, ?, NULL, 'late')", (later + timedelta(hours=11, minutes=50),))
    _, results = run_units(tmp_path, datetime(2026, 3, 12, 0, 30, tzinfo=UTC))
    assert "app.items/2026-03-11" in [r.unit_id for r in results if r.outcome == "written"]
    assert censuses[-1] is None and "key_census" not in _manifest(tmp_path, "2026-03-11")
    assert _manifest(tmp_path, "2026-03-12")["key_census"]["live"] == 4  # 1, 5, 6, 7
    assert verify_archive(LocalStore(tmp_path / "archive"), deep=True).ok


def test_reconcile_leaves_out_what_changed_after_the_watermark(tmp_path, capsys):
    db = _sqlite(tmp_path, INCR)
    db.executemany("INSERT INTO items VALUES (?, ?, NULL, 'v')", [(i, T0) for i in range(1, 6)])
    run_units(tmp_path, (T0 + timedelta(hours=1)).replace(tzinfo=UTC))
    after = T0 + timedelta(hours=3)  # past the last run's watermark (T0 + 1h, lag 0s)
    db.execute("UPDATE items SET updated_at = ?, val = 'edited' WHERE id = 1", (after,))
    db.execute("INSERT INTO items VALUES (6, ?, NULL, 'new')", (after,))
    capsys.readouterr()
    assert cli.main(["reconcile", "--project-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "app.items 2026-03-10: 2 key(s) left out: edited after the archive's watermark" in out
    # an edit stamped before the watermark is a real difference the archive does not hold
    db.execute("UPDATE items SET val = 'silent' WHERE id = 2")
    assert cli.main(["reconcile", "--project-dir", str(tmp_path)]) == 1
    assert "different keys [2]" in capsys.readouterr().out

"""A restore never leaves a half-truth behind: a damaged archived file stops it before anything is
written, naming the file; rows that do not read back as archived (here a target trigger that alters
them) fail the fingerprint check and the transaction is rolled back. Either way the target is as
it was."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from datetime import UTC, datetime

import psycopg
import pytest

from archival import cli
from archival.archive.state import archived_periods
from archival.archive.store import LocalStore
from tests.run.helpers import run_units

AS_OF = datetime(2026, 11, 26, 12, tzinfo=UTC)


@pytest.fixture
def demo(demo_project, small_demo_db, monkeypatch):
    monkeypatch.setenv("ARCHIVAL_PII_KEY", "k" * 32)
    (demo_project / "data").mkdir()
    shutil.copy(small_demo_db, demo_project / "data" / "helpdesk.db")
    run_units(demo_project, AS_OF, select=["table:helpdesk.tickets", "table:helpdesk.customers"])
    return demo_project


def test_a_damaged_file_fails_the_restore_before_anything_is_written(demo, tmp_path, capsys):
    target = tmp_path / "app.db"
    with closing(sqlite3.connect(target)) as con, con:
        con.execute("CREATE TABLE tickets (id INTEGER, note TEXT)")
        con.execute("INSERT INTO tickets VALUES (1, 'kept')")
    before = target.read_bytes()
    periods = archived_periods(LocalStore(demo / "archive"), "helpdesk", "tickets")
    archived = next(f.path for a in periods.values() for f in a.manifest.files)
    damaged = demo / "archive" / archived
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))

    args = ["restore", "--project-dir", str(demo), "-s", "table:helpdesk.tickets", "--to", str(target),
            "--if-exists", "replace"]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"archival restore: {archived}: its sha256 is ") and "nothing was loaded" in err, err
    assert target.read_bytes() == before


def test_rows_that_do_not_read_back_as_archived_roll_back(demo, pg_dsn, monkeypatch, capsys):
    monkeypatch.setenv("RESTORE_TO", pg_dsn)
    args = ["restore", "--project-dir", str(demo), "-s", "table:helpdesk.customers", "--to", "env:RESTORE_TO"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "restored helpdesk.customers -> public.customers in the postgres database (env:RESTORE_TO): 200 rows" in out
    assert "email: hashed PII: restored as stored" in out and "phone: dropped PII: restored as NULL" in out
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("DELETE FROM customers WHERE id > 100")
        con.execute("CREATE FUNCTION shout() RETURNS trigger AS $$ BEGIN NEW.name := upper(NEW.name); RETURN NEW; "
                    "END $$ LANGUAGE plpgsql")
        con.execute("CREATE TRIGGER shout BEFORE INSERT ON customers FOR EACH ROW EXECUTE FUNCTION shout()")
        before = con.execute("SELECT * FROM customers ORDER BY id").fetchall()

    assert cli.main([*args, "--if-exists", "append", "--period", "full"]) == 1
    assert capsys.readouterr().err == ("archival restore: postgres database (env:RESTORE_TO): Failed to copy data: "
                                       'ERROR:  duplicate key value violates unique constraint "customers_pkey"; '
                                       "nothing was kept\n")
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("ALTER TABLE customers DROP CONSTRAINT customers_pkey")
    assert cli.main([*args, "--if-exists", "append", "--period", "full"]) == 1
    err = capsys.readouterr().err
    assert "do not match the archive's (200) by fingerprint; nothing was kept" in err, err
    with psycopg.connect(pg_dsn) as con:
        assert con.execute("SELECT * FROM customers ORDER BY id").fetchall() == before

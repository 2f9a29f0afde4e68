"""Parquet modular encryption of a target's files (`encryption.parquet.key`), on the demo helpdesk:
every Parquet file the archive holds (data, tombstones, quarantine, purge keys) is unreadable to plain
pyarrow and DuckDB; verify --deep, reconcile, query, restore and purge read it with the key; a rerun
over unchanged rows writes nothing; rotation; a missing or wrong key fails in one line naming it."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from archival import cli
from archival.archive.encryption import is_encrypted
from archival.archive.manifest import read_manifest
from archival.archive.state import archived_periods
from archival.archive.targets import open_store
from archival.plan.refresh import Refresh
from archival.source.duck import local_connection
from archival.spec.load import load_project
from tests.purge.demo import AS_OF, db, prepare_demo
from tests.run.helpers import run_units

KEY_A, KEY_B = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))


def _encrypted(key_ref: str):
    def adjust(folder: Path) -> None:
        project = folder / "archival.yaml"
        text = project.read_text().replace("local: {type: local, path: ./archive}",
                                           f"local: {{type: local, path: ./archive, encryption: "
                                           f"{{parquet: {{key: '{key_ref}'}}}}}}")
        assert key_ref in text
        project.write_text(text)
    return adjust


@pytest.fixture
def sealed(demo_project, small_demo_db, monkeypatch):
    monkeypatch.setenv("ARCHIVE_KEY_A", KEY_A)
    _encrypted("env:ARCHIVE_KEY_A")(demo_project)
    return prepare_demo(demo_project, small_demo_db, monkeypatch)


def _parquet(folder: Path) -> list[Path]:
    return sorted(p for p in (folder / "archive").rglob("*.parquet") if ".work" not in p.parts)


def _keys_named(folder: Path) -> set[str | None]:
    store = open_store(load_project(folder))
    named = set()
    for table in ("agents", "customers", "labels", "tickets", "ticket_comments", "ticket_labels"):
        for period in archived_periods(store, "helpdesk", table).values():
            for version in range(1, period.manifest.version + 1):
                path = period.path.replace(f"v{period.manifest.version:06d}", f"v{version:06d}")
                manifest = read_manifest(store, path).manifest
                named |= {f.key for f in [*manifest.files, *manifest.tombstones, *manifest.quarantine]}
    return named


def _query(folder: Path, capsys, sql: str) -> list[dict]:
    capsys.readouterr()
    assert cli.main(["query", "--project-dir", str(folder), "--format", "json", "--sql", sql]) == 0
    return json.loads(capsys.readouterr().out)


def test_every_file_is_sealed_and_every_reader_opens_it(sealed, capsys, tmp_path):
    files = _parquet(sealed)
    assert len(files) > 40 and all(is_encrypted(p) for p in files)
    for path in files[:5]:
        with pytest.raises(OSError, match="encrypted"):
            pq.read_table(path)
        # a DuckDB of its own: the process-wide default connection may hold keys other tests registered
        with closing(local_connection()) as plain, pytest.raises(duckdb.InvalidInputException, match="encrypted"):
            plain.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()
    assert _keys_named(sealed) == {"env:ARCHIVE_KEY_A"}

    assert cli.main(["verify", "--deep", "--project-dir", str(sealed)]) == 0
    assert cli.main(["reconcile", "--project-dir", str(sealed)]) == 0
    assert cli.main(["docs", "--project-dir", str(sealed), "--out", str(tmp_path / "catalog")]) == 0
    page = (tmp_path / "catalog" / "index.html").read_text()
    assert page.count("<b>encrypted</b> env:ARCHIVE_KEY_A") == 6  # every table says under which key
    # filters, joins and aggregates over encrypted files answer as the source does
    with db(sealed) as con:
        expected = con.execute("SELECT count(*) FROM ticket_comments c JOIN tickets t ON t.id = c.tickets_id "
                               "WHERE t.status = 'open' AND c.created_at < '2026-11-01'").fetchone()[0]
    got = _query(sealed, capsys, "SELECT count(*) AS n FROM helpdesk.ticket_comments c JOIN helpdesk.tickets t "
                                 "ON t.id = c.tickets_id WHERE t.status = 'open'")
    assert got == [{"n": expected}] and expected > 0

    restored = tmp_path / "restored.db"
    assert cli.main(["restore", "--project-dir", str(sealed), "-s", "table:helpdesk.tickets",
                     "--to", str(restored)]) == 0
    with closing(sqlite3.connect(restored)) as out, db(sealed) as source:
        assert out.execute("SELECT count(*), sum(id) FROM tickets").fetchone() == \
            source.execute("SELECT count(*), sum(id) FROM tickets").fetchone()

    # purge reads the sealed archive to compare, and seals the keys it records
    capsys.readouterr()
    assert cli.main(["purge", "--json", "--as-of", AS_OF.isoformat(), "--ignore-quiet-hours",
                     "--project-dir", str(sealed)]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"] > 500
    batches = sorted((sealed / "archive" / "_purges").rglob("*.parquet"))
    assert batches and all(is_encrypted(p) for p in batches)
    assert cli.main(["verify", "--deep", "--project-dir", str(sealed)]) == 0

    # a rerun over unchanged rows: every full snapshot is equal in rows, so no new version
    before = {p.relative_to(sealed) for p in (sealed / "archive").rglob("v*.json")}
    _, results = run_units(sealed, AS_OF + timedelta(hours=1))
    assert {r.outcome for r in results} <= {"unchanged"}
    assert {p.relative_to(sealed) for p in (sealed / "archive").rglob("v*.json")} == before

    view = tmp_path / "views.duckdb"
    assert cli.main(["query", "--project-dir", str(sealed), "--duckdb-file", str(view)]) == 2
    assert not view.exists()  # refused before it was created: it could not hold the data keys


def test_rotation_and_a_missing_or_wrong_key(sealed, capsys, monkeypatch):
    monkeypatch.setenv("ARCHIVE_KEY_B", KEY_B)
    project = sealed / "archival.yaml"
    project.write_text(project.read_text().replace("env:ARCHIVE_KEY_A", "env:ARCHIVE_KEY_B"))
    with db(sealed) as con:  # new rows in a new month, archived under the new key
        con.execute("INSERT INTO ticket_comments (tickets_id, body, created_at, updated_at) SELECT tickets_id, "
                    "body, '2026-12-02 10:00:00', NULL FROM ticket_comments ORDER BY id LIMIT 5")
    _, results = run_units(sealed, AS_OF + timedelta(days=40))
    assert "written" in {r.outcome for r in results}
    assert _keys_named(sealed) == {"env:ARCHIVE_KEY_A", "env:ARCHIVE_KEY_B"}
    assert cli.main(["verify", "--deep", "--project-dir", str(sealed)]) == 0  # old files keep their key

    # a refresh re-encrypts: equal rows, but sealed under another key, get a new version under the new one
    _, results = run_units(sealed, AS_OF + timedelta(days=40), select=["table:helpdesk.ticket_comments"],
                           refresh=Refresh("re-encrypt under ARCHIVE_KEY_B"))
    assert sum(r.outcome == "written" for r in results) >= 20  # the periods of key A; the new ones stay
    store = open_store(load_project(sealed))
    assert {f.key for p in archived_periods(store, "helpdesk", "ticket_comments").values()
            for f in p.manifest.files} == {"env:ARCHIVE_KEY_B"}
    _, results = run_units(sealed, AS_OF + timedelta(days=40), select=["table:helpdesk.ticket_comments"],
                           refresh=Refresh("again: nothing to do"))
    assert {r.outcome for r in results} == {"unchanged"}

    capsys.readouterr()
    monkeypatch.delenv("ARCHIVE_KEY_A")
    assert cli.main(["verify", "--deep", "--project-dir", str(sealed)]) == 1
    err = capsys.readouterr().err
    assert "key env:ARCHIVE_KEY_A" in err and "ARCHIVE_KEY_A is not set" in err and ".parquet" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2

    monkeypatch.setenv("ARCHIVE_KEY_A", KEY_B)  # another key under the old name
    assert cli.main(["reconcile", "--project-dir", str(sealed)]) == 1
    err = capsys.readouterr().err
    assert "key env:ARCHIVE_KEY_A does not unwrap" in err and KEY_B not in err and KEY_A not in err


def test_an_unusable_key_fails_the_unit_and_writes_nothing(sealed, monkeypatch):
    """A master key that is not a 256-bit key: the unit that has rows to seal fails naming the key
    reference (never the value) and publishes no manifest and no file."""
    from archival.archive.encryption import KeyUnavailable

    monkeypatch.setenv("ARCHIVE_KEY_A", "canary-S3cret-not-a-key")
    with db(sealed) as con:
        con.execute("INSERT INTO ticket_comments (tickets_id, body, created_at, updated_at) SELECT tickets_id, "
                    "body, '2026-12-02 10:00:00', NULL FROM ticket_comments ORDER BY id LIMIT 5")
    before = sorted(p.relative_to(sealed) for p in (sealed / "archive").rglob("*") if ".work" not in p.parts)
    with pytest.raises(KeyUnavailable) as caught:
        run_units(sealed, AS_OF + timedelta(days=40), select=["table:helpdesk.ticket_comments"])
    assert "key env:ARCHIVE_KEY_A is not a base64-encoded 256-bit key" in str(caught.value)
    assert "canary-S3cret" not in str(caught.value)
    after = sorted(p.relative_to(sealed) for p in (sealed / "archive").rglob("*") if ".work" not in p.parts)
    new = [str(p) for p in after if p not in before]
    # the empty 2026-11 period needed no key and was archived; the unit with the rows published nothing
    assert new and not [p for p in new if "period=2026-12" in p or p.endswith(".parquet")], "\n".join(new)

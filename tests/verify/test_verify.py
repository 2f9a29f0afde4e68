"""`verify` names every kind of damage and exits 1; an untouched archive verifies clean."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime

import pytest

from archival import cli
from archival.archive.store import LocalStore
from archival.verify.check import verify_archive
from tests.conftest import write_project
from tests.run.helpers import run_units

SPEC = """domain: shop
owner: o@example.com
source: app
tables:
  comments: {relation: ticket_comments, primary_key: [id], mode: window, cursor: created_at, period: quarter}
  agents: {relation: agents, primary_key: [id], mode: full}
"""


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, small_demo_db):
    folder = tmp_path_factory.mktemp("pristine")
    (folder / "data").mkdir()
    shutil.copy(small_demo_db, folder / "data" / "app.db")
    write_project(folder, "  app: {type: sqlite, path: data/app.db}", {"shop": SPEC})
    run_units(folder, datetime(2026, 12, 1, tzinfo=UTC))
    return folder


@pytest.fixture
def archive(pristine, tmp_path):
    shutil.copytree(pristine, tmp_path / "p")
    return tmp_path / "p"


def _report(folder, deep=False):
    return verify_archive(LocalStore(folder / "archive"), deep=deep)


def _a_data_file(folder):
    return sorted((folder / "archive" / "shop" / "comments").rglob("*.parquet"))[0]


def test_clean_archive_verifies(archive, capsys):
    assert _report(archive, deep=True).ok
    assert cli.main(["verify", "--deep", "--project-dir", str(archive)]) == 0
    assert ": ok" in capsys.readouterr().out


def test_one_flipped_byte_is_named(archive, capsys):
    path = _a_data_file(archive)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert cli.main(["verify", "--project-dir", str(archive)]) == 1
    err = capsys.readouterr().err
    assert f"sha256: {path.relative_to(archive / 'archive').as_posix()}" in err


def test_truncated_deleted_and_extra_files(archive):
    files = sorted((archive / "archive" / "shop" / "comments").rglob("*.parquet"))
    files[0].write_bytes(files[0].read_bytes()[:100])
    files[1].unlink()
    extra = files[2].parent / "part-00099-deadbeef.parquet"
    extra.write_bytes(b"not ours")
    kinds = {(f.kind, f.path.rsplit("/", 1)[1]) for f in _report(archive).findings}
    assert ("size", files[0].name) in kinds and ("missing", files[1].name) in kinds
    assert ("extra", extra.name) in kinds


def test_edited_manifest_is_detected(archive):
    path = sorted((archive / "archive").rglob("v000001.json"))[0]
    data = json.loads(path.read_bytes())
    data["row_count"] += 1
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    findings = _report(archive).findings
    assert any(f.kind == "manifest" and "audit chain" in f.message for f in findings)


def test_deleted_manifest_is_detected(archive):
    path = sorted((archive / "archive").rglob("v000001.json"))[0]
    path.unlink()
    findings = _report(archive).findings
    rel = path.relative_to(archive / "archive").as_posix()
    assert any(f.path == rel and "deleted" in f.message for f in findings)
    assert any(f.kind == "extra" for f in findings)  # its data files are now orphans


def test_audit_chain_edit_and_truncation(archive):
    entries = sorted((archive / "archive" / "_audit").glob("*.json"))
    data = json.loads(entries[1].read_bytes())
    data["at"] = "1999-01-01T00:00:00+00:00"
    entries[1].write_text(json.dumps(data))
    assert any("chain was edited" in f.message for f in _report(archive).findings)
    entries[3].unlink()
    assert any("removed or reordered" in f.message for f in _report(archive).findings)


def test_deep_finds_rows_that_do_not_match(archive):
    """A file rewritten with other rows and a manifest fixed up to its hash: only --deep can tell."""
    import hashlib

    import duckdb

    path = _a_data_file(archive)
    rel = path.relative_to(archive / "archive").as_posix()
    duckdb.sql(f"COPY (SELECT * FROM read_parquet('{path}', hive_partitioning=false) LIMIT 3) TO '{path}.new' "
               "(FORMAT parquet)")
    new = (archive / "archive" / (rel + ".new")).read_bytes()
    path.write_bytes(new)
    manifest_path = next(p for p in (archive / "archive").rglob("v000001.json") if rel in p.read_text())
    manifest = json.loads(manifest_path.read_bytes())
    for f in manifest["files"]:
        if f["path"] == rel:
            f["sha256"], f["bytes"] = hashlib.sha256(new).hexdigest(), len(new)
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (archive / "archive" / (rel + ".new")).unlink()
    deep = _report(archive, deep=True).findings
    assert any(f.kind in ("rows", "fingerprint") for f in deep)



def test_deep_finds_one_changed_value_by_the_fingerprint(archive):
    """Same row count, one value changed, the manifest fixed up to the new file's hash: the fingerprint
    (sum-xxh3-words-v3, what this release writes) tells, as the audit chain tells of the edit."""
    import hashlib

    import duckdb

    path = _a_data_file(archive)
    rel = path.relative_to(archive / "archive").as_posix()
    manifest_path = next(p for p in (archive / "archive").rglob("v000001.json") if rel in p.read_text())
    manifest = json.loads(manifest_path.read_bytes())
    assert manifest["fingerprint"]["algorithm"] == "sum-xxh3-words-v3"
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_parquet('{path}', hive_partitioning=false)")
    column = next(c["name"] for c in manifest["schema"] if c["type"] == "string")
    con.execute(f"UPDATE t SET {column} = coalesce({column}, '') || '!' WHERE rowid = (SELECT min(rowid) FROM t)")
    con.execute(f"COPY t TO '{path}.new' (FORMAT parquet)")
    new = (archive / "archive" / (rel + ".new")).read_bytes()
    path.write_bytes(new)
    (archive / "archive" / (rel + ".new")).unlink()
    for f in manifest["files"]:
        if f["path"] == rel:
            f["sha256"], f["bytes"] = hashlib.sha256(new).hexdigest(), len(new)
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    deep = _report(archive, deep=True).findings
    kinds = {f.kind for f in deep}
    assert "fingerprint" in kinds and "rows" not in kinds, [str(f) for f in deep]
    assert not {f.kind for f in _report(archive).findings} & {"fingerprint", "rows"}  # only --deep re-reads

def _cli_verify(archive, capsys, *flags):
    code = cli.main(["verify", *flags, "--project-dir", str(archive)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, err


def test_manifest_entry_without_bytes_is_a_finding(archive, capsys):
    path = sorted((archive / "archive").rglob("v000001.json"))[0]
    data = json.loads(path.read_bytes())
    del data["files"][0]["bytes"]
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    code, err = _cli_verify(archive, capsys, "--deep")
    rel = path.relative_to(archive / "archive").as_posix()
    assert code == 1 and f"manifest: {rel}: not a valid manifest: files[0].bytes: Field required" in err


def test_manifest_that_is_not_json_is_a_finding(archive, capsys):
    path = sorted((archive / "archive").rglob("v000001.json"))[0]
    path.write_bytes(b'{"domain": "shop", "files": [')
    code, err = _cli_verify(archive, capsys, "--deep")
    assert code == 1 and f"manifest: {path.relative_to(archive / 'archive').as_posix()}: not valid JSON" in err


def test_audit_entry_that_is_not_json_is_a_finding(archive, capsys):
    entry = sorted((archive / "archive" / "_audit").glob("*.json"))[2]
    entry.write_bytes(b"\x00garbage")
    code, err = _cli_verify(archive, capsys)
    assert code == 1 and f"audit: _audit/{entry.name}: not a JSON object (the entry is damaged)" in err


@pytest.mark.parametrize("name", [".tmp-x.parquet", ".hidden/part-00000-deadbeef.parquet",
                                  "part-00007-cafebabe.parquet"])
def test_a_stray_file_in_a_period_folder_is_reported(archive, capsys, name):
    """DuckDB's glob `*/*.parquet` reads `.tmp-x.parquet` too: temp names and dot-folders count."""
    folder = _a_data_file(archive).parent
    stray = folder / name
    stray.parent.mkdir(exist_ok=True)
    stray.write_bytes(b"PAR1 not ours")
    code, err = _cli_verify(archive, capsys)
    assert code == 1 and f"extra: {stray.relative_to(archive / 'archive').as_posix()}: " in err


def test_scratch_space_is_not_the_archive(archive):
    (archive / "archive" / ".work" / "run-1").mkdir(parents=True)
    (archive / "archive" / ".work" / "run-1" / "part-00000.parquet.tmp").write_bytes(b"in flight")
    assert _report(archive).ok

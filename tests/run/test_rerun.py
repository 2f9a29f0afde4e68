"""Reruns write nothing new; the same rows give the same bytes; big periods split into parts;
PII never reaches the archive in clear."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime

import duckdb
import jsonschema
import pytest

from archival.archive.store import LocalStore
from archival.demo.helpdesk import generate
from archival.run.context import Tuning
from archival.verify.check import verify_archive
from tests.conftest import ROOT, write_project
from tests.run.helpers import archive_files, run_units

AS_OF = datetime(2026, 12, 1, tzinfo=UTC)
SPEC = """domain: shop
owner: o@example.com
source: app
tables:
  comments: {{relation: ticket_comments, primary_key: [id], mode: window, cursor: created_at, format: {fmt}}}
  customers:
    relation: customers
    primary_key: [id]
    mode: full
    format: {fmt}
    columns:
      email: {{pii: hash}}
      phone: {{pii: drop}}
      name: {{pii: mask}}
"""


@pytest.fixture(scope="module")
def app_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("app") / "app.db"
    generate(path, scale=0.02)
    return path


def _project(tmp_path, app_db, fmt="parquet"):
    (tmp_path / "data").mkdir(parents=True)
    shutil.copy(app_db, tmp_path / "data" / "app.db")
    return write_project(tmp_path, "  app: {type: sqlite, path: data/app.db}", {"shop": SPEC.format(fmt=fmt)},
                         extra="pii: {hash_key: env:ARCHIVAL_PII_KEY}\n")


def _data_and_manifests(files: dict[str, bytes]) -> dict[str, bytes]:
    """Everything but each run's own records: its run record, lineage, and its `run` audit entry."""
    return {k: v for k, v in files.items() if not k.startswith(("_runs/", "_lineage/"))
            and not (k.startswith("_audit/") and json.loads(v).get("action") == "run")}


def test_rerun_writes_nothing_and_manifests_stay_identical(tmp_path, app_db):
    folder = _project(tmp_path, app_db)
    _, first = run_units(folder, AS_OF)
    assert {r.outcome for r in first} == {"written"}
    before = _data_and_manifests(archive_files(folder))
    _, second = run_units(folder, AS_OF)
    assert [r.outcome for r in second] == ["unchanged"]  # the full table; closed periods are skipped
    assert _data_and_manifests(archive_files(folder)) == before


def test_same_rows_same_bytes_in_two_archives(tmp_path, app_db):
    a, b = _project(tmp_path / "a", app_db), _project(tmp_path / "b", app_db)
    run_units(a, AS_OF)
    run_units(b, AS_OF)
    files_a = {k: v for k, v in archive_files(a).items() if "/period=" in k and "_manifests" not in k}
    files_b = {k: v for k, v in archive_files(b).items() if "/period=" in k and "_manifests" not in k}
    assert files_a == files_b and len(files_a) > 20


def test_manifests_match_committed_schema(tmp_path, app_db):
    folder = _project(tmp_path, app_db)
    _, results = run_units(folder, AS_OF)
    schema = json.loads((ROOT / "schemas" / "manifest.schema.json").read_text())
    manifests = [v for k, v in archive_files(folder).items() if "/_manifests/" in k]
    assert len(manifests) == len(results) == 25  # 24 closed months of comments + the full customers table
    for raw in manifests:
        jsonschema.validate(json.loads(raw), schema)


def test_large_period_splits_into_parts_and_reads_back(tmp_path, app_db):
    folder = _project(tmp_path, app_db)
    tuning = Tuning(batch_rows=30, row_group_rows=50, target_file_bytes=5_000)
    _, results = run_units(folder, AS_OF, select=["table:shop.customers"], tuning=tuning)
    manifest = json.loads((folder / "archive" / results[0].manifest).read_bytes())
    assert len(manifest["files"]) > 3
    assert [f["path"].rsplit("/", 1)[1][:10] for f in manifest["files"]] == \
        [f"part-{i:05d}" for i in range(len(manifest["files"]))]
    ids = duckdb.sql(f"SELECT id FROM read_parquet('{folder}/archive/shop/customers/*/*.parquet', "
                     "hive_partitioning=true)").fetchall()
    assert [i for (i,) in ids] == list(range(1, 401))  # ordered by key across parts, none lost
    assert verify_archive(LocalStore(folder / "archive"), deep=True).ok


def test_pii_never_in_clear(tmp_path, app_db):
    import sqlite3

    folder = _project(tmp_path, app_db)
    run_units(folder, AS_OF)
    db = sqlite3.connect(tmp_path / "data" / "app.db")
    emails = [e for (e,) in db.execute("SELECT email FROM customers LIMIT 50")]
    phones = [p for (p,) in db.execute("SELECT phone FROM customers LIMIT 50")]
    blob = b"".join(archive_files(folder).values())
    for secret in emails + phones + ["test-pii-key"]:
        assert secret.encode() not in blob
    relation = duckdb.sql(f"SELECT * FROM read_parquet('{folder}/archive/shop/customers/*/*.parquet')")
    record = dict(zip(relation.columns, relation.fetchone(), strict=True))
    assert "phone" not in record and len(record["email"]) == 64 and record["name"].endswith("***")


def test_csv_format_verifies_deeply(tmp_path, app_db):
    folder = _project(tmp_path, app_db, fmt="csv")
    _, results = run_units(folder, AS_OF)
    assert all(r.outcome == "written" for r in results)
    assert any(k.endswith(".csv.gz") for k in archive_files(folder))
    report = verify_archive(LocalStore(folder / "archive"), deep=True)
    assert report.ok, report.findings

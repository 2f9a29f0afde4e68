"""Resumable multipart uploads (archive/uploads.py) against moto's S3 over HTTP: an export killed
(SIGKILL) after its second part is sent leaves the upload open and journaled; the rerun sends only the
parts moto does not hold (counted from moto's own request log) and completes the object, which then
verifies. A journaled upload of other bytes is aborted, not continued."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import boto3

from archival.archive import s3 as s3_module
from archival.archive.s3 import S3Store
from archival.archive.uploads import UploadJournal
from archival.verify.check import verify_archive
from tests.conftest import ROOT, blobs_project
from tests.run.helpers import run_units

AS_OF = datetime(2026, 12, 1, tzinfo=UTC)
PART = 5 * 1024 * 1024  # S3's smallest part
RUN = """import sys
from datetime import datetime
from pathlib import Path
import archival.archive.s3 as s3
s3.PART_BYTES = 5 * 1024 * 1024
from tests.run.helpers import run_units
run_units(Path(sys.argv[1]), datetime.fromisoformat(sys.argv[2]), target="s3")
"""


def _project(folder: Path, bucket: str, endpoint: str) -> Path:
    return blobs_project(folder, bucket, endpoint, 30000, 600)


def _parts_received(caplog) -> int:
    return sum(1 for r in caplog.records
               if r.name == "werkzeug" and re.search(r'"PUT \S+[?&]partNumber=\d+', r.getMessage()))


def test_a_killed_upload_resumes_without_sending_its_parts_again(moto_endpoint, tmp_path, monkeypatch, caplog):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "ARCHIVAL_PII_KEY": "k" * 32}.items():
        monkeypatch.setenv(name, value)
    bucket = f"resume-{os.getpid()}-{time.monotonic_ns()}"
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    folder = _project(tmp_path / "p", bucket, moto_endpoint)

    caplog.set_level(logging.INFO, logger="werkzeug")
    killed = subprocess.run([sys.executable, "-c", RUN, str(folder), AS_OF.isoformat()], cwd=ROOT,
                            env={**os.environ, "ARCHIVAL_FAILPOINT": "s3:part=nth:2", "PYTHONPATH": str(ROOT)},
                            capture_output=True, timeout=300)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    assert _parts_received(caplog) == 2
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert len(uploads) == 1 and "Contents" not in client.list_objects_v2(Bucket=bucket, Prefix="shop/")
    journal = list((folder / ".archival" / "uploads").glob("*.json"))
    assert len(journal) == 1

    caplog.clear()
    monkeypatch.setattr(s3_module, "PART_BYTES", PART)
    ctx, results = run_units(folder, AS_OF, target="s3")
    assert [r.outcome for r in results] == ["written"] and results[0].rows == 30000
    size = results[0].bytes
    parts = -(-size // PART)
    assert parts >= 3 and _parts_received(caplog) == parts - 2  # only what moto did not hold
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    assert not list((folder / ".archival" / "uploads").glob("*.json"))
    assert verify_archive(ctx.store, deep=True).ok


def test_a_journaled_upload_of_other_bytes_is_aborted(moto_endpoint, tmp_path, monkeypatch):
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    bucket = f"other-{os.getpid()}-{time.monotonic_ns()}"
    client.create_bucket(Bucket=bucket)
    monkeypatch.setattr(s3_module, "PART_BYTES", PART)
    journal = UploadJournal(tmp_path / "uploads")
    stale = client.create_multipart_upload(Bucket=bucket, Key="t/x.parquet")["UploadId"]
    journal.begin(bucket, "t/x.parquet", stale, "f" * 64, 123, PART)
    local = tmp_path / "x.parquet"
    local.write_bytes(os.urandom(PART + 1000))
    import hashlib

    sha = hashlib.sha256(local.read_bytes()).hexdigest()
    assert S3Store(client, bucket, journal=journal).put_file("t/x.parquet", local, sha) is True
    assert client.get_object(Bucket=bucket, Key="t/x.parquet")["Body"].read() == local.read_bytes()
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")  # the stale one is gone too
    assert journal.entry(bucket, "t/x.parquet") is None

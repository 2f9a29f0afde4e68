"""Errors an operator causes and fixes end as a line or two naming the cause and the fix, with exit
status 2 (bad usage or configuration) or 1 (the job could not be done), and no traceback, in `run`
(where they used to come out of Prefect as 40-line tracebacks) and in `validate --connect`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid

import pytest

from archival import cli
from tests.conftest import ROOT, tmpfs, write_project

AS_OF = "2026-12-01T00:00:00Z"
SPEC = """domain: shop
owner: o@example.com
source: app
tables:
  customers:
    relation: customers
    primary_key: [id]
    mode: full
    columns:
      email: {pii: hash}
  tickets: {relation: tickets, primary_key: [id], mode: incremental, cursor: [updated_at, created_at]}
"""


@pytest.fixture
def project(tmp_path, small_demo_db):
    (tmp_path / "data").mkdir()
    shutil.copy(small_demo_db, tmp_path / "data" / "app.db")
    return write_project(tmp_path, "  app: {type: sqlite, path: data/app.db}", {"shop": SPEC},
                         extra="pii: {hash_key: env:ARCHIVAL_PII_KEY}\n")


def _cli(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def _run(prefect_server, *args, env=None):
    """`archival run` as an operator starts it: its own process, its real stderr."""
    env = {**(env if env is not None else os.environ), "PREFECT_API_URL": prefect_server, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "archival.cli", "run", "--as-of", AS_OF, "--no-progress", *args],
                          env=env, capture_output=True, text=True, timeout=180)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr[-3000:]
    return done.returncode, done.stdout, done.stderr


def test_missing_pii_key(project, prefect_server, capsys, monkeypatch):
    monkeypatch.delenv("ARCHIVAL_PII_KEY")
    code, _, err = _run(prefect_server, "--project-dir", str(project))
    assert code == 2 and "environment variable ARCHIVAL_PII_KEY is not set" in err
    code, _, err = _cli(capsys, "validate", "--connect", "--project-dir", str(project))
    assert code == 2 and "ARCHIVAL_PII_KEY" in err
    assert not (project / "archive" / "shop").exists()


@pytest.fixture
def read_only_archive(project):
    """The archive folder on a file system mounted read-only (as root, permissions would not stop us)."""
    with tmpfs(project / "archive", "4m", read_only=True) as archive:
        yield archive


def test_read_only_archive(project, read_only_archive, prefect_server, capsys):
    code, _, err = _run(prefect_server, "--project-dir", str(project))
    assert code == 1 and f"cannot write {read_only_archive}/_locks/shop/customers.json in the archive: its file " \
                          "system is mounted read-only" in err
    code, _, err = _cli(capsys, "validate", "--connect", "--project-dir", str(project))
    assert code == 1 and "target 'local': cannot write" in err and "read-only" in err


def _s3_project(project, endpoint, bucket):
    s3 = f"    s3: {{type: s3, bucket: {bucket}, endpoint_url: {endpoint}, allow_http: true}}"
    text = (project / "archival.yaml").read_text().replace(
        "    local: {type: local, path: ./archive}", f"    local: {{type: local, path: ./archive}}\n{s3}")
    (project / "archival.yaml").write_text(text)


def test_missing_bucket_and_missing_credentials(project, moto_endpoint, prefect_server, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"nobucket-{uuid.uuid4().hex[:8]}"
    _s3_project(project, moto_endpoint, bucket)
    code, _, err = _run(prefect_server, "--project-dir", str(project), "--target", "s3")
    assert code == 1 and f"s3://{bucket}: the bucket does not exist (NoSuchBucket)" in err
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(project / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(project / "none"))
    code, _, err = _cli(capsys, "validate", "--connect", "--project-dir", str(project))
    assert code == 1 and f"target 's3': s3://{bucket}: no AWS credentials were found" in err


def test_a_second_run_on_the_same_tables_names_the_first(project, prefect_server):
    """Two overlapping runs: the second exits 1 naming the run that holds the lock, writes nothing,
    and never meets an ArchiveConflict; the first finishes normally."""
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "PYTHONPATH": str(ROOT)}
    # the first run stays busy longer than the second needs to start on a loaded host (6 s was not: CI)
    slow = {**env, "ARCHIVAL_FAILPOINT": "record:parts@shop.customers/full=sleep:25"}
    first = subprocess.Popen([sys.executable, "-m", "archival.cli", "run", "--project-dir", str(project), "--as-of",
                              AS_OF, "--no-progress"], env=slow, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    locks = project / "archive" / "_locks" / "shop"
    deadline = time.monotonic() + 60
    while not (locks.exists() and any(locks.iterdir())):
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read().decode()[-2000:]
        time.sleep(0.1)
    holder = json.loads(next(locks.iterdir()).read_bytes())
    second = subprocess.run([sys.executable, "-m", "archival.cli", "run", "--project-dir", str(project), "--as-of",
                             AS_OF, "--no-progress"], env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 1, second.stderr[-2000:]
    assert f"locked by run {holder['run_id']} ({socket.gethostname()}, pid {first.pid}" in second.stderr
    assert "ArchiveConflict" not in second.stderr + second.stdout and "Traceback" not in second.stderr
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err.decode()[-2000:]
    assert not any(locks.iterdir())  # released


def test_an_unexpected_error_is_one_line_without_debug(project, capsys, monkeypatch):
    import archival.cli as cli_module

    def broken(args):
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr(cli_module, "command", lambda name: broken)
    code, _, err = _cli(capsys, "ls", "--project-dir", str(project))
    assert code == 1 and err.splitlines() == ["archival ls: ZeroDivisionError: a bug",
                                              "  (run again with --debug for the traceback)"]
    with pytest.raises(ZeroDivisionError):
        cli.main(["ls", "--project-dir", str(project), "--debug"])

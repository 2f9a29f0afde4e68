"""What an operator's terminal and the kernel do to a run: Ctrl-C signals the whole process group, the
OOM killer SIGKILLs the main process, disks fill up. The run stops cleanly and says so (exit 130, a
run record, nothing half-published) whether it runs direct or as a flow, the temporary Prefect server
never outlives the command, and a
full disk is named with its path; the rerun after each is exact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, tmpfs, write_project
from tests.tcp_proxy import TcpProxy

AS_OF = "2026-12-01T00:00:00Z"


@pytest.fixture
def project(shop_project):
    return shop_project


def _env(tmp_path, **extra) -> dict[str, str]:
    """A bare CLI run: no PREFECT_API_URL, so the run is direct, or a flow on a temporary server of its own
    with --prefect."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return {**env, "PYTHONPATH": str(ROOT), "PREFECT_HOME": str(tmp_path / "prefect-home"), **extra}


def _archival(*args, env, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "archival.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]  # a zombie is gone already
    except OSError:
        return False


def _servers_of(parent: int) -> list[int]:
    """The temporary Prefect servers this command started (they run in sessions of their own)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"archival.run.server_child" in cmd and str(parent).encode() in cmd:
                found.append(int(entry))
    return found


class Lines:
    """A process's stderr, read as it comes."""

    def __init__(self, stream):
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True).start()

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert time.monotonic() < deadline, f"no '{text}' in: {''.join(self.lines)[-3000:]}"
            time.sleep(0.1)


def _leftovers(archive) -> list[str]:
    return [str(p) for p in archive.rglob(".tmp-*")]


@pytest.mark.parametrize("flow", [[], ["--prefect"]], ids=["direct", "prefect-flow"])
def test_ctrl_c_stops_the_run_cleanly_and_the_rerun_is_exact(project, tmp_path, flow):
    env = _env(tmp_path, ARCHIVAL_FAILPOINT="unit:batch=sleep:1")  # every unit takes a second or more
    run = _archival("run", "--project-dir", str(project), "--as-of", AS_OF, "--no-progress", *flow, env=env,
                    start_new_session=True)  # its own process group, as a terminal's foreground job
    err = Lines(run.stderr)
    err.wait_for("[2/")  # units have finished, others run
    servers = _servers_of(run.pid)
    assert len(servers) == (1 if flow else 0)  # a direct run starts no server
    started = time.monotonic()
    os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C does: the whole group
    out = run.stdout.read()
    code = run.wait(timeout=60)
    took = time.monotonic() - started
    assert code == 130 and took < 10, (code, took, "".join(err.lines)[-3000:])
    assert "interrupted: the run was asked to stop (SIGINT)" in out and "Traceback" not in "".join(err.lines)
    records = list((project / "archive" / "_runs").glob("*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_bytes())
    assert record["interrupted"] == "interrupted: the run was asked to stop (SIGINT)"
    assert record["totals"]["outcomes"].get("deferred", 0) > 0
    assert not _leftovers(project / "archive") and not any(_alive(pid) for pid in servers)

    env.pop("ARCHIVAL_FAILPOINT")
    rerun = _archival("run", "--project-dir", str(project), "--as-of", AS_OF, "--no-progress", env=env)
    out, errors = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, errors[-3000:]
    for command in (["verify", "--deep"], ["reconcile"]):
        check = _archival(*command, "--project-dir", str(project), env=env)
        out, errors = check.communicate(timeout=300)
        assert check.returncode == 0, out + errors


def test_the_temporary_server_dies_with_a_killed_command(project, tmp_path):
    env = _env(tmp_path, ARCHIVAL_FAILPOINT="unit:batch=sleep:30")
    run = _archival("run", "--project-dir", str(project), "--as-of", AS_OF, "--no-progress", "--prefect", env=env)
    err = Lines(run.stderr)
    err.wait_for("Beginning flow run")
    servers = _servers_of(run.pid)
    assert len(servers) == 1 and _alive(servers[0])
    run.kill()  # SIGKILL, as the OOM killer does: no handler runs
    run.wait(timeout=10)
    deadline = time.monotonic() + 10
    while _alive(servers[0]):
        assert time.monotonic() < deadline, "the temporary Prefect server outlived its command"
        time.sleep(0.2)


def test_full_archive_disk_names_the_path_keeps_the_record_and_the_rerun_is_exact(project, tmp_path):
    env = _env(tmp_path)
    with tmpfs(project / "archive", "200k") as archive:
        run = _archival("run", "--project-dir", str(project), "--as-of", AS_OF, "--no-progress", env=env)
        out, err = run.communicate(timeout=300)
        assert run.returncode == 1, out + err
        assert "Traceback" not in out + err
        failed = [line for line in out.splitlines() if "no space left" in line.lower() or "disk is full" in line]
        assert failed and all(str(archive) in line for line in failed), out
        records = list((archive / "_runs").glob("*.json"))
        assert len(records) == 1 and json.loads(records[0].read_bytes())["totals"]["outcomes"]["failed"] >= 1
        assert not _leftovers(archive) and not any((archive / ".work").glob("*/*"))
        subprocess.run(["mount", "-o", "remount,size=64m", str(archive)], check=True)
        rerun = _archival("run", "--project-dir", str(project), "--as-of", AS_OF, "--no-progress", env=env)
        out, err = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, out + err
        for command in (["verify", "--deep"], ["reconcile"]):
            check = _archival(*command, "--project-dir", str(project), env=env)
            out, err = check.communicate(timeout=300)
            assert check.returncode == 0, out + err


def test_a_full_tmpdir_is_named_as_such(project, tmp_path):
    with tmpfs(tmp_path / "tmp", "64k") as folder:
        (folder / "filler").write_bytes(b"\0" * 60_000)
        run = _archival("run", "--project-dir", str(project), "--as-of", AS_OF, env=_env(tmp_path, TMPDIR=str(folder)))
        out, err = run.communicate(timeout=120)
    assert run.returncode == 1 and err.strip() == (f"archival run: TMPDIR {folder} cannot be used: No space left on "
                                                   "device; free space there or point TMPDIR at another folder")
    assert not (project / "archive").exists()


def test_a_source_that_goes_down_defers_its_units_with_one_message(pg_dsn, tmp_path, prefect_server):
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("CREATE TABLE events (id int PRIMARY KEY, created_at timestamp, v text)")
        con.execute("INSERT INTO events SELECT g, timestamp '2025-01-01' + g * interval '1 day', 'e' || g "
                    "FROM generate_series(1, 600) g")
    proxy = TcpProxy(5432)
    dsn = pg_dsn.replace("port=5432", f"port={proxy.port}") + " connect_timeout=3"
    spec = ("domain: app\nowner: o@example.com\nsource: pg\ntables:\n  events: {relation: public.events, "
            "primary_key: [id], mode: window, cursor: created_at, period: month}\n")
    folder = write_project(tmp_path / "p", "  pg: {type: postgres, dsn: env:APP_DSN}", {"app": spec})
    env = {**os.environ, "PYTHONPATH": str(ROOT), "APP_DSN": dsn, "PREFECT_API_URL": prefect_server,
           "ARCHIVAL_FAILPOINT": "unit:batch=sleep:1"}
    run = _archival("run", "--project-dir", str(folder), "--as-of", "2026-11-01T00:00:00Z", "--no-progress", env=env)
    err = Lines(run.stderr)
    err.wait_for("[1/")
    proxy.cut()
    out = run.stdout.read()
    assert run.wait(timeout=300) == 1, "".join(err.lines)[-3000:]
    deferred = [line for line in out.splitlines() if "source 'pg' failed 2 times in a row" in line]
    assert len(deferred) == 1 and "deferred to the next run: app.events 20" in deferred[0], out
    record = json.loads(next((folder / "archive" / "_runs").glob("*.json")).read_bytes())
    outcomes = record["totals"]["outcomes"]
    # not one retry cycle per unit: at most the breaker's threshold (2) plus what its 2 lanes had started
    # fail; the rest is deferred (how many were written before the cut depends on the batches' timing)
    failures = [(u["unit_id"], (u["error"] or "")[:160]) for u in record["units"] if u["outcome"] == "failed"]
    assert outcomes["failed"] <= 4 and outcomes["deferred"] >= 5, (outcomes, failures)
    assert sum(outcomes.values()) == len(record["units"])
    assert "Traceback" not in out + "".join(err.lines)


def test_tmpdir_filling_up_during_an_s3_run(tmp_path, moto_endpoint, prefect_server):
    """An S3 run's parts are made under TMPDIR: the unit that does not fit fails naming TMPDIR, the
    others and the run record land in the bucket, and the rerun with room is exact."""
    import sqlite3

    import boto3

    db = sqlite3.connect(tmp_path / "app.db")
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    db.executemany("INSERT INTO notes VALUES (?, ?)", [(i, os.urandom(48).hex()) for i in range(20_000)])
    db.execute("CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT)")
    db.executemany("INSERT INTO tags VALUES (?, ?)", [(i, f"t{i}") for i in range(50)])
    db.commit()
    bucket = f"hygiene-{os.getpid()}-{time.monotonic_ns()}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_API_URL": prefect_server, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    s3.create_bucket(Bucket=bucket)
    spec = ("domain: app\nowner: o@example.com\nsource: s\ntables:\n  notes: {relation: notes, primary_key: [id], "
            "mode: full}\n  tags: {relation: tags, primary_key: [id], mode: full}\n")
    folder = write_project(tmp_path / "p", "  s: {type: sqlite, path: ../app.db}", {"app": spec})
    target = f"    s3: {{type: s3, bucket: {bucket}, endpoint_url: {moto_endpoint}, allow_http: true}}"
    text = (folder / "archival.yaml").read_text().replace("default: local", "default: s3").replace(
        "    local: {type: local, path: ./archive}", f"    local: {{type: local, path: ./archive}}\n{target}")
    (folder / "archival.yaml").write_text(text)
    # 20,000 notes are about 1 MB of Parquet (random hex): a 1 MB tmpfs was too tight even once emptied
    with tmpfs(tmp_path / "tmp", "3m") as scratch:
        (scratch / "filler").write_bytes(b"\0" * 2_600_000)  # room for small files, not for 20,000 notes
        run = _archival("run", "--project-dir", str(folder), "--no-progress", env={**env, "TMPDIR": str(scratch)})
        out, err = run.communicate(timeout=300)
        assert run.returncode == 1, out + err
        assert "Traceback" not in out + err
        assert f"app.notes/full: [systemic] DiskFull: app.notes/full: no space left on device in the run's scratch " \
               f"folder {scratch}/archival-work/" in out and "(under TMPDIR): free space or point TMPDIR" in out, out
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert any(k.startswith("_runs/") for k in keys) and any(k.startswith("app/tags/") for k in keys)
        assert not any(k.startswith("app/notes/") for k in keys) and not any(".tmp-" in k for k in keys)
        assert not list((scratch / "archival-work").glob("*/*"))
        (scratch / "filler").unlink()
        rerun = _archival("run", "--project-dir", str(folder), "--no-progress", env={**env, "TMPDIR": str(scratch)})
        out, err = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, out + err
    check = _archival("verify", "--deep", "--project-dir", str(folder), env=env)
    out, err = check.communicate(timeout=300)
    assert check.returncode == 0, out + err


def test_a_run_refused_at_its_spec_stops_the_server_it_launched_early(project, monkeypatch, capsys):
    """`archival run` launches its private server before it reads the specs; a spec error ends the
    command (exit 2, the error on stderr) and the server with it, though this process lives on."""
    from archival import cli
    from archival.run import server as server_module

    launched = []

    def launch() -> server_module.PrivateServer:
        launched.append(server_module.PrivateServer())
        return launched[-1]

    monkeypatch.setattr(server_module, "launch_early", launch)
    spec = project / "specs" / "shop.yaml"
    spec.write_text(spec.read_text().replace("mode: full", "mode: fullest"))
    # --prefect: a flow (alone, with no API configured, the run would be direct and launch nothing)
    assert cli.main(["run", "--project-dir", str(project), "--as-of", AS_OF, "--prefect"]) == 2
    assert "fullest" in capsys.readouterr().err
    assert len(launched) == 1 and launched[0].process.poll() is not None

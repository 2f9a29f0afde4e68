"""`archival run` without a Prefect server runs its units directly (run/direct.py): the same records
as the flow, retries of transient failures, a clean stop, and no Prefect in the process."""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys

import pytest

import archival.run.work as work_module
from archival import cli
from archival.cli.run import as_flow
from archival.run.dispatch import DirectDispatch
from archival.run.interrupt import STOP
from archival.run.items import BACKOFF_SECONDS, JITTER, RETRIES, retry_delay
from tests.conftest import ROOT

AS_OF = "2026-12-01T00:00:00Z"


@pytest.fixture
def project(shop_project):
    return shop_project


def test_a_direct_run_imports_no_prefect_and_writes_what_a_flow_writes(project, tmp_path):
    """In a fresh process with no API configured: the run record, the audit entry and the archive are
    there, verify --deep passes, and Prefect was never imported (its import alone costs a second)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {"PYTHONPATH": str(ROOT), "PREFECT_HOME": str(tmp_path / "prefect-home")}
    script = ("import sys; from archival import cli; code = cli.main(sys.argv[1:]); "
              "print('prefect imported' if 'prefect' in sys.modules else 'no prefect', file=sys.stderr); "
              "sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", script, "run", "--project-dir", str(project), "--as-of", AS_OF,
                           "--no-progress"], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.strip().endswith("no prefect") and "written" in done.stdout
    record = json.loads(next((project / "archive" / "_runs").glob("*.json")).read_bytes())
    assert record["totals"]["outcomes"]["written"] == len(record["units"]) > 10
    assert all(u["details"]["attempts"] == 1 for u in record["units"])
    assert cli.main(["verify", "--deep", "--project-dir", str(project)]) == 0
    audit = (project / "archive" / "_audit").rglob("*.json*")
    assert any('"outcome": "ok"' in p.read_text() for p in audit if p.is_file())


def test_a_transient_failure_is_retried_directly(project, monkeypatch, capsys):
    real = work_module.export_unit
    calls: dict[str, int] = {}

    def flaky(ctx, unit, lineage=None, connection=None):
        calls[unit.id] = calls.get(unit.id, 0) + 1
        if unit.id == "shop.customers/full" and calls[unit.id] == 1:
            raise ConnectionResetError("connection reset by peer")
        return real(ctx, unit, lineage, connection)

    monkeypatch.setattr(work_module, "export_unit", flaky)
    assert cli.main(["run", "--project-dir", str(project), "--as-of", AS_OF, "--no-progress", "--no-prefect"]) == 0
    out, err = capsys.readouterr()
    assert calls["shop.customers/full"] == 2 and "shop.customers/full: attempt 1 failed (ConnectionResetError" in err
    record = json.loads(next((project / "archive" / "_runs").glob("*.json")).read_bytes())
    attempts = {u["unit_id"]: u["details"]["attempts"] for u in record["units"]}
    assert attempts["shop.customers/full"] == 2 and set(attempts.values()) == {1, 2}


def test_a_systemic_failure_fails_its_unit_at_once_and_the_others_are_written(project, monkeypatch, capsys):
    real = work_module.export_unit
    calls = {"n": 0}

    def broken(ctx, unit, lineage=None, connection=None):
        if unit.id == "shop.customers/full":
            calls["n"] += 1
            raise RuntimeError('relation "customers" does not exist')
        return real(ctx, unit, lineage, connection)

    monkeypatch.setattr(work_module, "export_unit", broken)
    assert cli.main(["run", "--project-dir", str(project), "--as-of", AS_OF, "--no-progress", "--no-prefect"]) == 1
    out = capsys.readouterr().out
    assert calls["n"] == 1 and "shop.customers/full" in out and "does not exist" in out
    record = json.loads(next((project / "archive" / "_runs").glob("*.json")).read_bytes())
    assert record["totals"]["outcomes"]["failed"] == 1 and record["totals"]["outcomes"]["written"] > 10


def test_a_stop_while_waiting_to_retry_ends_the_item(project, monkeypatch):
    """The retry's back-off is cut short by a stop; the failure stands, nothing runs again, and what
    the batch did not start is handed back."""
    import logging

    from archival.run.prepare import prepare
    from archival.run.work import work_items

    calls = {"n": 0}

    def reset(ctx, unit, lineage=None, connection=None):
        calls["n"] += 1
        STOP.request()
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(work_module, "export_unit", reset)
    try:
        with prepare(project, None, None, as_of=None) as (plan, ctx), \
                DirectDispatch(logging.getLogger("test")) as dispatch:
            batch = work_items(list(plan.due))[:3]
            outcome = dispatch.submit(ctx, batch).result(timeout=30)
    finally:
        STOP.reset()
    [failed] = outcome.results
    assert calls["n"] == 1 and failed.outcome == "failed" and failed.details["attempts"] == 1
    assert "ConnectionResetError" in failed.error and outcome.unrun == batch[1:]


def test_retry_delays_follow_prefects_backoff_with_jitter():
    rng = random.Random(7)
    for retry in range(1, RETRIES + 1):
        base = BACKOFF_SECONDS * 2 ** (retry - 1)
        delays = [retry_delay(retry, rng) for _ in range(200)]
        assert base * (1 - JITTER) <= min(delays) < base < max(delays) <= base * (1 + JITTER)


def _args(**kw) -> argparse.Namespace:
    return argparse.Namespace(**{"prefect": None, "runner": "thread"} | kw)


def test_a_flow_when_asked_a_server_is_configured_or_the_runner_needs_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PREFECT_PROFILES_PATH", raising=False)
    monkeypatch.setattr("archival.run.server.sys.modules", {k: v for k, v in sys.modules.items()
                                                             if k != "prefect.settings"})
    assert as_flow(_args()) is False
    assert as_flow(_args(prefect=True)) is True and as_flow(_args(runner="process")) is True
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert as_flow(_args()) is True and as_flow(_args(prefect=False)) is False
    from archival.run.runners import RunnerError

    with pytest.raises(RunnerError, match="--runner dask runs Prefect tasks"):
        as_flow(_args(prefect=False, runner="dask"))


def test_no_prefect_with_a_runner_that_needs_it_is_bad_usage(project, capsys):
    code = cli.main(["run", "--project-dir", str(project), "--no-prefect", "--runner", "process"])
    assert code == 2 and capsys.readouterr().err.strip() == (
        "archival run: --runner process runs Prefect tasks: it cannot go with --no-prefect")
    assert not (project / "archive").exists()


def test_a_prefect_profile_that_names_an_api_makes_the_run_a_flow(tmp_path):
    """In a fresh process (Prefect not imported): no settings file, no API; the active profile of
    PREFECT_HOME naming PREFECT_API_URL is found by asking Prefect, which reads it."""
    script = ("import sys; from archival.run.server import api_url_configured; "
              "print(api_url_configured(), 'prefect' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PYTHONPATH": str(ROOT), "PREFECT_HOME": str(tmp_path / "home")}

    def ask() -> str:
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                              cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()

    assert ask() == "False False"  # nothing names an API: Prefect is not even imported
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "profiles.toml").write_text(
        'active = "prod"\n\n[profiles.prod]\nPREFECT_API_URL = "http://127.0.0.1:4200/api"\n')
    assert ask() == "True True"

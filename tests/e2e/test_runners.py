"""The same units run on threads, local processes and a Dask LocalCluster of worker processes, and
archive byte-identical files; what travels to a worker by pickle carries no secret."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import pytest

from archival import cli
from archival.archive.manifest import CONTENT_FIELDS as CONTENT_KEYS
from archival.archive.store import LocalStore
from archival.run.context import RunContext
from archival.run.runners import RunnerError, task_runner
from archival.spec.load import load_project
from archival.verify.check import verify_archive
from tests.conftest import write_project
from tests.e2e.test_operations import AS_OF, SPEC


def _project(folder: Path, db: Path) -> Path:
    (folder / "data").mkdir(parents=True)
    shutil.copy(db, folder / "data" / "app.db")
    return write_project(folder, "  app: {type: sqlite, path: data/app.db}", {"shop": SPEC.format(extra="")},
                         extra="pii: {hash_key: env:ARCHIVAL_PII_KEY}\nlimits: {max_parallel_per_source: 2}\n")


def _data_files(folder: Path) -> dict[str, str]:
    """Data files by sha256, and each manifest's content (its run id and times differ by design)."""
    root, out = folder / "archive", {}
    for path in root.glob("*/*/**/*"):
        name = str(path.relative_to(root))
        if path.is_file() and "/_manifests/" in name:
            body = json.loads(path.read_bytes())
            out[name] = json.dumps({k: body.get(k) for k in CONTENT_KEYS}, sort_keys=True)
        elif path.is_file() and not name.startswith(("_", ".")):
            out[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _workers(folder: Path) -> set[str]:
    record = json.loads(sorted((folder / "archive" / "_runs").glob("*.json"))[-1].read_bytes())
    assert record["totals"]["outcomes"] == {"written": 9}
    return {u["details"]["worker"] for u in record["units"]}


def _lineage_events(folder: Path) -> list[tuple[str, str]]:
    """(unit's OpenLineage run id, event type) of the last run's lineage events, whichever processes
    wrote them."""
    [run] = sorted((folder / "archive" / "_lineage").iterdir())[-1:]
    events = [json.loads(p.read_bytes()) for p in run.glob("*.json")]
    return sorted((e["run"]["runId"], e["eventType"]) for e in events)


def _run(folder: Path, *extra: str) -> None:
    assert cli.main(["run", "--project-dir", str(folder), "--as-of", AS_OF, "--no-progress", *extra]) == 0
    assert verify_archive(LocalStore(folder / "archive"), deep=True).ok


@pytest.fixture(scope="module")
def threaded(tmp_path_factory, small_demo_db, prefect_server):
    folder = _project(tmp_path_factory.mktemp("threads"), small_demo_db)
    _run(folder)
    assert {w.rsplit(":", 1)[1] for w in _workers(folder)} == {str(os.getpid())}
    return _data_files(folder)


@pytest.mark.xdist_group("dask")
def test_dask_local_cluster_archives_the_same_files(tmp_path, small_demo_db, prefect_server, threaded, monkeypatch):
    from distributed import Client, LocalCluster
    from prefect.settings import get_current_settings

    # worker processes report task states to this session's server, not to ephemeral ones of their own
    monkeypatch.setenv("PREFECT_API_URL", get_current_settings().api.url)
    folder = _project(tmp_path, small_demo_db)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        worker_pids = set(client.run(os.getpid).values())
        _run(folder, "--runner", "dask", "--dask-address", cluster.scheduler_address)
    used = {int(w.rsplit(":", 1)[1]) for w in _workers(folder)}
    assert used <= worker_pids and os.getpid() not in used
    assert _data_files(folder) == threaded  # same bytes, names and manifest content
    events = _lineage_events(folder)  # two workers, 9 units: no event lost or overwritten
    assert len(events) == 18 and len(set(events)) == 18 and {t for _, t in events} == {"START", "COMPLETE"}


def test_process_runner_archives_the_same_files(tmp_path, small_demo_db, prefect_server, threaded):
    folder = _project(tmp_path, small_demo_db)
    _run(folder, "--runner", "process", "--workers", "2")
    assert os.getpid() not in {int(w.rsplit(":", 1)[1]) for w in _workers(folder)}
    assert _data_files(folder) == threaded
    assert len(set(_lineage_events(folder))) == 18


def test_run_context_pickles_without_secrets(tmp_path, small_demo_db, monkeypatch):
    folder = _project(tmp_path, small_demo_db)
    project = load_project(folder)
    monkeypatch.setenv("ARCHIVAL_PII_KEY", "flow-side-key-9f3a")
    ctx = RunContext(project, LocalStore(folder / "archive"), "local", "r1")
    ctx.load_pii_key()
    blob = pickle.dumps(ctx)
    assert b"flow-side-key-9f3a" not in blob  # a secret never travels to a worker
    monkeypatch.setenv("ARCHIVAL_PII_KEY", "worker-side-key")
    again = pickle.loads(blob)
    assert again.pii_key == b"worker-side-key" and again.store.uri() == ctx.store.uri()  # rebuilt on arrival
    assert again.project == project and again.run_id == "r1"


@pytest.mark.parametrize("kind, address, workers, message", [
    ("fibers", None, None, "unknown runner 'fibers'"),
    ("thread", "tcp://127.0.0.1:8786", None, "--dask-address needs --runner dask"),
    ("process", None, 0, "--workers must be at least 1"),
    ("dask", "tcp://127.0.0.1:8786", 3, "a cluster at --dask-address has its own size"),
    ("dask", "127.0.0.1:8786", None, "'127.0.0.1:8786' is not a scheduler address; expected tcp://HOST:PORT"),
    ("dask", "tcp://scheduler", None, "'tcp://scheduler' is not a scheduler address"),
    ("dask", "http://127.0.0.1:8787", None, "'http://127.0.0.1:8787' is not a scheduler address"),
])
def test_runner_choices_are_checked(kind, address, workers, message):
    with pytest.raises(RunnerError, match=message):
        task_runner(kind, address, workers)


def test_cli_refuses_dask_address_without_dask_runner(tmp_path, small_demo_db, capsys):
    folder = _project(tmp_path, small_demo_db)
    code = cli.main(["run", "--project-dir", str(folder), "--dask-address", "tcp://127.0.0.1:1"])
    assert code == 2 and "--dask-address needs --runner dask" in capsys.readouterr().err
    assert not (folder / "archive").exists()  # nothing ran



def test_cli_reports_an_unreachable_scheduler_before_anything_runs(tmp_path, small_demo_db, capsys):
    """distributed would wait 30 s inside the flow and end in a traceback; the address is checked first."""
    folder = _project(tmp_path, small_demo_db)
    code = cli.main(["run", "--project-dir", str(folder), "--runner", "dask", "--dask-address", "tcp://127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == 1 and "no Dask scheduler answers at tcp://127.0.0.1:1" in err and "Traceback" not in err
    assert not (folder / "archive").exists()  # no flow, no run record

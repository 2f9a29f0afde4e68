"""At most `max_parallel` units read one source at once: inside one run (the flow admits units) and,
with a Prefect server, across runs (global concurrency limits the spec keeps in step)."""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter

import pytest

from archival.plan.units import ExportUnit
from archival.run import flow as flow_module
from archival.run import work as work_module
from archival.run.limits import Admission, global_limit_name
from archival.spec.load import load_project
from tests.conftest import write_project
from tests.e2e.test_operations import AS_OF

SPEC = """domain: {name}
owner: o@example.com
source: limited
tables:
  comments: {{relation: ticket_comments, primary_key: [id], mode: window, cursor: created_at, period: quarter}}
"""


class Overlap:
    """Wraps export_unit: records how many units of each source run at the same moment."""

    def __init__(self, real):
        self.real, self.lock = real, threading.Lock()
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()

    def __call__(self, ctx, unit, lineage=None, connection=None):
        with self.lock:
            self.now[unit.source] += 1
            self.peak[unit.source] = max(self.peak[unit.source], self.now[unit.source])
        try:
            time.sleep(0.25)  # long enough for units that are allowed to overlap to do so
            return self.real(ctx, unit, lineage, connection)
        finally:
            with self.lock:
                self.now[unit.source] -= 1


@pytest.fixture
def overlap(monkeypatch):
    spy = Overlap(work_module.export_unit)  # where the flow's tasks call it
    monkeypatch.setattr(work_module, "export_unit", spy)
    return spy


def _project(tmp_path, db, limit: int, domains=("shop",)):
    (tmp_path / "data").mkdir(exist_ok=True)
    shutil.copy(db, tmp_path / "data" / "app.db")
    return write_project(tmp_path, f"  limited: {{type: sqlite, path: data/app.db, max_parallel: {limit}}}",
                         {d: SPEC.format(name=d) for d in domains})


def _written(summary) -> int:
    return sum(r.outcome == "written" for r in summary.results)


@pytest.mark.parametrize("limit", [1, 2])
def test_one_run_never_exceeds_the_source_limit(tmp_path, small_demo_db, prefect_server, overlap, limit):
    folder = _project(tmp_path, small_demo_db, limit)
    summary = flow_module.run_project(folder, as_of=AS_OF, ignore_quiet_hours=True)
    assert _written(summary) == 8
    assert overlap.peak["limited"] == limit  # reached (units do run in parallel) and never passed


def test_two_runs_share_the_global_limit(tmp_path, small_demo_db, prefect_server, overlap):
    from prefect import get_client

    folder = _project(tmp_path, small_demo_db, 1, domains=("shop", "desk"))
    summaries = {}

    def run(domain):
        summaries[domain] = flow_module.run_project(folder, select=[f"domain:{domain}"], as_of=AS_OF)

    threads = [threading.Thread(target=run, args=(d,)) for d in ("shop", "desk")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [_written(summaries[d]) for d in ("shop", "desk")] == [8, 8]
    assert overlap.peak["limited"] == 1  # each run alone would allow one: together still one
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(global_limit_name("limited"))
    assert limit.limit == 1 and limit.active_slots == 0  # the spec's value; every slot given back


def test_without_a_server_each_run_only_limits_itself(tmp_path, small_demo_db, prefect_server, overlap, monkeypatch):
    """The control for the test above: with global limits off, two runs do overlap."""
    monkeypatch.setattr(flow_module, "server_configured", lambda: False)
    folder = _project(tmp_path, small_demo_db, 1, domains=("shop", "desk"))
    threads = [threading.Thread(target=flow_module.run_project, args=(folder,),
                                kwargs={"select": [f"domain:{d}"], "as_of": AS_OF}) for d in ("shop", "desk")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlap.peak["limited"] == 2


def test_admission_keeps_plan_order_per_source(tmp_path):
    sources = "  a: {type: sqlite, path: a.db, max_parallel: 2}\n  b: {type: sqlite, path: b.db}"
    folder = write_project(tmp_path, sources,
                           {}, extra="limits: {max_parallel_per_source: 1}\n")
    project = load_project(folder)
    units = [ExportUnit(domain="d", table=f"t{i}", period="full", mode="full", source=s, spec_sha256="",
                        status="new", reason="first export") for i, s in enumerate("aaabb")]
    admission = Admission(project, units)
    tables = lambda batches: [[u.table for u in batch] for batch in batches]  # noqa: E731
    assert tables(admission.admit()) == [["t0"], ["t1"], ["t3"]]  # a: 2 slots, b: 1 (project default)
    assert admission.admit() == []
    admission.finished("a")
    assert tables(admission.admit()) == [["t2"]]  # the oldest waiting unit of that source
    assert [u.table for u in admission.withdraw_all()] == ["t4"] and admission.waiting == []

    # batches of consecutive items of one source, one slot each; what a batch did not start waits first
    admission = Admission(project, units)
    assert tables(admission.admit(lambda source, waiting, limit: 2)) == [["t0", "t1"], ["t2"], ["t3", "t4"]]
    admission.finished("a", unrun=[units[1]])
    assert tables(admission.admit(lambda source, waiting, limit: 2)) == [["t1"]]


def test_limit_created_by_a_run_starting_at_the_same_moment(tmp_path, small_demo_db, prefect_server, monkeypatch):
    """Prefect's upsert reads, then creates: when another run creates the limit in between, the
    create answers 409, and this run must still set the spec's value instead of failing."""
    from prefect import get_client
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.exceptions import ObjectNotFound

    from archival.run.limits import sync_global_limits

    folder = _project(tmp_path, small_demo_db, 3)
    name = global_limit_name("limited")
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, 7)  # the other run got there first
    real_read, misses = SyncPrefectClient.read_global_concurrency_limit_by_name, []

    def read_before_the_other_run_created_it(self, limit_name):
        if not misses:
            misses.append(limit_name)
            raise ObjectNotFound(http_exc=None)
        return real_read(self, limit_name)

    monkeypatch.setattr(SyncPrefectClient, "read_global_concurrency_limit_by_name",
                        read_before_the_other_run_created_it)
    assert sync_global_limits(load_project(folder), {"limited"}) == {name: 3}
    assert misses == [name]
    with get_client(sync_client=True) as client:
        assert real_read(client, name).limit == 3

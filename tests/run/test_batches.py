"""A flow runs consecutive small items of one source as one task (run/tasks.py): fewer task runs and
global slots than units, the same archive, and a failed item hands the rest of its batch back to
the flow, which runs them in later batches."""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from contextlib import closing

import archival.run.work as work_module
from archival import cli
from tests.conftest import write_project

AS_OF = "2026-12-01T00:00:00Z"
TABLES = 40


def _project(folder, domain: str):
    folder.mkdir(parents=True)
    with closing(sqlite3.connect(folder / "app.db")) as con:
        for i in range(TABLES):
            con.execute(f"CREATE TABLE t{i:02d} (id INTEGER PRIMARY KEY, name TEXT)")
            con.execute(f"INSERT INTO t{i:02d} VALUES (1, 'a'), (2, 'b'), ({i + 3}, 'c')")
        con.commit()
    body = "".join(f"  t{i:02d}: {{relation: t{i:02d}, primary_key: [id], mode: full}}\n" for i in range(TABLES))
    return write_project(folder, "  app: {type: sqlite, path: app.db}",
                         {domain: f"domain: {domain}\nowner: o@example.com\nsource: app\ntables:\n{body}"},
                         extra="limits: {max_parallel_per_source: 2}\n")


def _task_runs(domain: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName

    with get_client(sync_client=True) as client:
        return client.read_task_runs(task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_=f"{domain}.")),
                                     limit=200)


def _record(folder) -> dict:
    return json.loads(next((folder / "archive" / "_runs").glob("*.json")).read_bytes())


def test_a_flow_runs_small_units_in_batches(tmp_path, prefect_server):
    domain = f"b{uuid.uuid4().hex[:8]}"
    folder = _project(tmp_path / "p", domain)
    assert cli.main(["run", "--project-dir", str(folder), "--as-of", AS_OF, "--no-progress"]) == 0
    runs = _task_runs(domain)
    # 40 items on 2 lanes: batches of 10 while many wait, smaller towards the end
    assert TABLES // 20 <= len(runs) <= TABLES // 2 and any("(+9 items)" in r.name for r in runs)
    record = _record(folder)
    assert record["totals"]["outcomes"] == {"written": TABLES}
    assert cli.main(["verify", "--deep", "--project-dir", str(folder)]) == 0


def test_a_failed_item_hands_the_rest_of_its_batch_back(tmp_path, prefect_server, monkeypatch):
    domain = f"b{uuid.uuid4().hex[:8]}"
    folder = _project(tmp_path / "p", domain)
    real = work_module.export_unit

    def broken(ctx, unit, lineage=None, connection=None):
        if unit.table == "t01":  # the second item of the first batch
            raise RuntimeError('relation "t01" does not exist')
        return real(ctx, unit, lineage, connection)

    monkeypatch.setattr(work_module, "export_unit", broken)
    assert cli.main(["run", "--project-dir", str(folder), "--as-of", AS_OF, "--no-progress"]) == 1
    outcomes = {u["unit_id"]: u["outcome"] for u in _record(folder)["units"]}
    assert outcomes.pop(f"{domain}.t01/full") == "failed"
    assert set(outcomes.values()) == {"written"} and len(outcomes) == TABLES - 1
    # the batch stopped at t01; t02 was started again by the flow, at the head of a later batch
    assert any(r.name.startswith(f"{domain}.t02/full") for r in _task_runs(domain))


def test_a_quota_keeps_every_batch_to_one_item(tmp_path):
    """Checked between batches, a quota holds exactly only if a batch is one item: with
    max_rows_per_run the dispatch's batch size is not asked for."""
    from concurrent.futures import Future

    from archival.plan.units import UnitResult
    from archival.run.gate import Quota
    from archival.run.items import BatchOutcome, run_items
    from archival.run.prepare import prepare
    from archival.run.progress import RunProgress
    from archival.run.work import work_items

    class Recording:
        logger = logging.getLogger("test.batches")

        def __init__(self) -> None:
            self.sizes: list[int] = []

        def submit(self, ctx, batch):
            self.sizes.append(len(batch))
            done: Future = Future()
            done.set_result(BatchOutcome([UnitResult(u.id, "written", rows=1) for item in batch for u in item.units]))
            return done

        def batch_size(self, source, waiting, limit):
            return 5

        def event(self, name, resource, payload):
            return None

    folder = _project(tmp_path / "p", f"b{uuid.uuid4().hex[:8]}")
    for limits, sizes in (("max_parallel_per_source: 2", {5}), ("max_parallel_per_source: 2, max_rows_per_run: 100",
                                                                 {1})):
        yaml = folder / "archival.yaml"
        yaml.write_text(yaml.read_text().replace(yaml.read_text().split("limits: ")[1].split("\n")[0], f"{{{limits}}}"))
        with prepare(folder, None, None, as_of=None) as (plan, ctx):
            dispatch = Recording()
            with RunProgress(len(plan.due), dispatch.logger, live=False) as progress:
                results = run_items(ctx, work_items(list(plan.due)), Quota(ctx.project.limits), progress, dispatch)
        assert len(results) == TABLES and set(dispatch.sizes) == sizes


def test_prefect_does_not_walk_the_run_context_of_a_task():
    """Prefect visits a task's parameters for futures before each task (into dataclasses, pydantic
    models, lists and dicts); the run context holds the whole project, so it goes in a wrapper that
    Prefect passes on without visiting what it holds."""
    from dataclasses import dataclass

    from prefect.utilities.collections import visit_collection

    from archival.run.tasks import OpaqueContext

    @dataclass
    class Context:
        tables: list

    visited: list = []
    visit_collection({"parcel": OpaqueContext(Context([{"a": 1}] * 3)), "batch": [1]},
                     visit_fn=lambda expr: visited.append(type(expr).__name__), return_data=False)
    assert "Context" not in visited and "dict" in visited and "OpaqueContext" in visited
    visited.clear()
    visit_collection({"ctx": Context([{"a": 1}])}, visit_fn=lambda expr: visited.append(type(expr).__name__),
                     return_data=False)
    assert "Context" in visited  # what the wrapper saves: a bare dataclass is walked

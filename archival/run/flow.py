"""The Prefect flow. `archival_run` compiles the plan for its selectors and submits a task per due
ExportUnit as its source has room (archival.run.limits) and the run's quota allows.
Deployments run it once per domain (`select: [domain:NAME]`). Tasks retry transient failures with
exponential backoff and jitter; systemic ones fail at once."""

from __future__ import annotations

import json
import os
import queue
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_client, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.runtime import task_run as task_run_runtime
from prefect.tasks import exponential_backoff

from archival.archive import layout
from archival.archive.targets import open_store, target_name
from archival.plan.build import build_plan
from archival.plan.units import ExportUnit, Plan
from archival.record.metrics import write_metrics
from archival.record.runs import totals, write_run_record
from archival.run.context import RunContext, Tuning, new_run_id, shared_snapshots
from archival.run.errors import classify
from archival.run.gate import Quota, in_quiet_hours
from archival.run.limits import Admission, global_slot, server_configured, sync_global_limits
from archival.run.progress import RunProgress
from archival.run.runners import RunnerKind, task_runner
from archival.run.unit import UnitResult, export_unit, failed_result
from archival.spec.load import load_project
from archival.spec.select import parse_selectors, select_tables

RETRIES = 3


class PlanRefused(Exception):
    """The plan has errors (exit 2): nothing was run."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def _retry_if_transient(task, task_run, state) -> bool:
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - the state carries the unit's exception
        return classify(exc) == "transient"
    return False


@task(name="export-unit", retries=RETRIES, retry_delay_seconds=exponential_backoff(backoff_factor=2),
      retry_jitter_factor=0.5, retry_condition_fn=_retry_if_transient, cache_policy=NO_CACHE,
      task_run_name="{unit.id}")
def export_unit_task(ctx: RunContext, unit: ExportUnit) -> UnitResult:
    """Runs wherever the task runner puts it (thread, process, Dask worker): `ctx` arrives pickled."""
    logger = get_run_logger()
    with global_slot(unit.source, ctx.global_limits):  # other flow runs reading this source count too
        domain = ctx.project.domain(unit.domain)
        assert domain is not None
        # checked when the unit would start (a slot may have taken a while), not when it was planned
        quiet = None if ctx.ignore_quiet_hours else in_quiet_hours(domain, ctx.clock())
        if quiet:
            reason = f"quiet hours {quiet} ({domain.timezone})"
            logger.info("%s: deferred to the next run: %s", unit.id, reason)
            return UnitResult(unit.id, "deferred", error=reason)
        result = export_unit(ctx, unit, ctx.lineage)
    result.details["attempts"] = task_run_runtime.get_run_count()
    result.details["worker"] = f"{socket.gethostname()}:{os.getpid()}"  # which process ran it (Dask, processes)
    logger.info("%s: %s, %d rows, %d bytes in %.2fs", unit.id, result.outcome, result.rows, result.bytes,
                result.seconds)
    return result


@dataclass
class RunSummary:
    run_id: str
    target: str
    results: list[UnitResult] = field(default_factory=list)
    record_path: str | None = None

    @property
    def failed(self) -> list[UnitResult]:
        return [r for r in self.results if r.outcome == "failed"]


def _run_units(ctx: RunContext, units: list[ExportUnit], quota: Quota, progress: RunProgress) -> list[UnitResult]:
    """Admit units in plan order as sources have room and the quota allows, collect each as it ends.
    The flow process decides, so the limits hold whichever runner executes the tasks."""
    admission = Admission(ctx.project, units)
    ended: queue.Queue = queue.Queue()
    in_flight: dict[Any, tuple[ExportUnit, float, Any]] = {}
    results: dict[str, UnitResult] = {}
    logger = get_run_logger()
    while admission.waiting or in_flight:
        spent = quota.exhausted()
        if spent:  # what has not started waits for the next run, oldest period first
            left = admission.withdraw_all()
            for unit in left:
                results[unit.id] = UnitResult(unit.id, "deferred", error=spent)
                logger.info("%s: deferred to the next run: %s", unit.id, spent)
            progress.skipped(len(left))
        for unit in admission.admit():
            future = export_unit_task.submit(ctx, unit)
            in_flight[future.task_run_id] = (unit, time.perf_counter(), future)
            progress.started(unit)
            future.add_done_callback(lambda f: ended.put(f.task_run_id))
        if not in_flight:
            break
        unit, started, future = in_flight.pop(ended.get())
        admission.finished(unit)
        result = _collect(ctx, unit, started, future)
        quota.add(result.rows, result.bytes)
        results[unit.id] = result
        progress.finished(result)
    return [results[u.id] for u in units]


def _collect(ctx: RunContext, unit: ExportUnit, started: float, future: Any) -> UnitResult:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - one unit's failure must not hide the others
        failed = failed_result(unit, exc, time.perf_counter() - started, classify(exc))
        failed.details["attempts"] = _attempts(future.task_run_id)
        # an event Prefect automations can alert on; the message is already scrubbed of secrets
        emit_event(event="archival.unit.failed", resource={"prefect.resource.id": f"archival.unit.{unit.id}",
                                                           "archival.error-class": failed.error_class or ""},
                   payload={"unit": unit.id, "run_id": ctx.run_id, "error": failed.error})
        return failed


def _attempts(task_run_id: Any) -> int:
    """How often a failed unit ran, retries included (the task cannot report it once it raised)."""
    try:
        with get_client(sync_client=True) as client:
            return client.read_task_run(task_run_id).run_count or 1
    except Exception:  # noqa: BLE001 - a summary detail, never a reason to fail the run
        return 1


def summary_rows(results: list[UnitResult]) -> list[dict[str, Any]]:
    return [{"unit": r.unit_id, "outcome": r.outcome, "rows": r.rows, "bytes": r.bytes, "files": r.files,
             "seconds": round(r.seconds, 3), "rows_per_s": round(r.rows_per_second), "error": r.error or ""}
            for r in results]


@flow(name="archival-run", task_runner=task_runner("thread"))
def archival_run(project_dir: str, select: list[str] | None = None, target: str | None = None,
                 run_id: str | None = None, as_of: datetime | None = None,
                 tuning: Tuning | None = None, retry_failed: str | None = None,
                 metrics_file: str | None = None, ignore_quiet_hours: bool = False,
                 progress: bool = False) -> RunSummary:
    """`retry_failed`: a run id; only the units that failed in that run (and are still due) run again.
    `metrics_file`: where to write the run's OpenMetrics text file. `progress`: a live bar when stderr
    is a terminal (plain log lines otherwise)."""
    started = time.perf_counter()
    run_id = run_id or new_run_id()
    project = load_project(project_dir)
    selectors = parse_selectors(select)
    plan: Plan = build_plan(project, select_tables(project, selectors), target=target, as_of=as_of,
                            selectors=tuple(str(s) for s in selectors))
    if plan.has_errors:  # a spec/source mismatch or a refused identity change: run nothing
        raise PlanRefused([f"{n.table}: {n.message}" for n in plan.notes if n.level == "error"])
    store = open_store(project, target)
    ctx = RunContext(project, store, target_name(project, target), run_id, tuning or Tuning(),
                     ignore_quiet_hours=ignore_quiet_hours, global_limits=server_configured())
    ctx.load_pii_key()
    ctx.sweep_stale_work()
    summary = RunSummary(run_id, ctx.target)
    due = list(plan.due)
    if retry_failed:
        previous = json.loads(store.read_bytes(layout.run_path(retry_failed)))
        failed = {u["unit_id"] for u in previous["units"] if u["outcome"] == "failed"}
        due = [u for u in due if u.id in failed]
    with shared_snapshots(ctx, {u.source for u in due}) as problems:
        for problem in problems:
            get_run_logger().warning(problem)
        if ctx.global_limits:
            sync_global_limits(project, {u.source for u in due})
        with RunProgress(len(due), get_run_logger(), live=None if progress else False) as bar:
            summary.results = _run_units(ctx, due, Quota(project.limits), bar)
    header = {"project": project.name, "target": ctx.target, "as_of": plan.as_of.isoformat(),
              "selectors": list(plan.selectors), "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "skipped_up_to_date": len(plan.units) - len(plan.due),
              "notes": [f"{n.level}: {n.table}: {n.message}" for n in plan.notes]}
    if retry_failed:
        header["retry_of"] = retry_failed
    summary.record_path = write_run_record(store, run_id, header, summary.results)
    if metrics_file:
        write_metrics(Path(metrics_file), project.name, run_id, summary.results, time.perf_counter() - started)
    table = summary_rows(summary.results)
    total = totals(summary.results)
    table.append({"unit": "TOTAL", "outcome": str(total["outcomes"]), "rows": total["rows"], "bytes": total["bytes"],
                  "files": sum(r.files for r in summary.results), "seconds": round(total["unit_seconds"], 3),
                  "rows_per_s": round(total["rows_per_second"]), "error": ""})
    create_table_artifact(table=table, key=f"archival-run-{project.name}".lower().replace("_", "-"),
                          description=f"archival run {run_id} -> {ctx.target}")
    return summary


def run_project(project_dir: Path, runner: RunnerKind = "thread", dask_address: str | None = None,
                workers: int | None = None, **kwargs: Any) -> RunSummary:
    """Run the flow with the chosen task runner (see archival.run.runners)."""
    chosen = archival_run.with_options(task_runner=task_runner(runner, dask_address, workers))
    return chosen(str(project_dir), **kwargs)


@flow(name="archival-reconcile")
def archival_reconcile(project_dir: str, select: list[str] | None = None, target: str | None = None,
                       period: str | None = None) -> bool:
    """Compare archived periods with their sources; fails the flow run (so automations can alert)
    when any period differs. Scheduled after the export deployments."""
    from archival.verify.reconcile import reconcile_project

    project = load_project(project_dir)
    reports, relations = reconcile_project(project, select_tables(project, parse_selectors(select)), target=target,
                                           period=period)
    create_table_artifact(table=[{"table": r.table, "period": r.period, "source": r.source_rows,
                                  "archive": r.archive_rows, "missing": r.missing, "extra": r.extra,
                                  "different": r.different, "status": r.status} for r in reports],
                          key=f"archival-reconcile-{project.name}".lower().replace("_", "-"))
    bad = [f"{r.table} {r.period}" for r in reports if r.status != "ok"]
    bad += [f"relation {r.relation}" for r in relations if r.status != "ok"]
    if bad:
        raise ReconcileMismatch(f"{len(bad)} period(s) differ from the source: {', '.join(bad[:10])}")
    return True


class ReconcileMismatch(Exception):
    pass

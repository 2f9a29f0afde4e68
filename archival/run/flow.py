"""The Prefect flow. `archival_run` prepares the run (archival/run/prepare.py: the project, the table
locks, the plan) and submits a task per work item (run/tasks.py) as its source has room and the
run's quota allows. Deployments run it once per domain (`select: [domain:NAME]`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.states import Failed, State

from archival.archive.layout import new_run_id
from archival.archive.store import ArchiveUnavailable
from archival.archive.targets import TargetError, open_store
from archival.failpoints import failpoint
from archival.plan.refresh import Refresh
from archival.plan.units import ExportUnit, Plan, UnitResult
from archival.record.anchor import record_head
from archival.record.initiator import who
from archival.record.metrics import write_metrics
from archival.record.runs import audit_run, failed_units, record_space, totals, write_run_record
from archival.run.after_run import reconcile_written
from archival.run.context import RunContext, Tuning, shared_snapshots
from archival.run.gate import Quota
from archival.run.inline import run_header
from archival.run.interrupt import STOP
from archival.run.limits import server_configured, sync_global_limits
from archival.run.prepare import prepare
from archival.run.progress import RunProgress
from archival.run.refusal import PlanRefused, RunRefused, refusal
from archival.run.runners import RunnerKind, task_runner
from archival.run.tasks import run_items
from archival.run.work import work_items
from archival.source.secrets import SecretError
from archival.spec.errors import SpecErrors
from archival.spec.load import load_project
from archival.verify.reconcile import PeriodReport


@dataclass
class RunSummary:
    run_id: str
    target: str
    results: list[UnitResult] = field(default_factory=list)
    record_path: str | None = None
    interrupted: str | None = None  # the run was asked to stop (run/interrupt.py)
    reconciled: list[PeriodReport] = field(default_factory=list)  # `reconcile: after_run` (run/after_run.py)

    @property
    def mismatched(self) -> list[PeriodReport]:
        return [r for r in self.reconciled if r.status != "ok"]

    @property
    def failed(self) -> list[UnitResult]:
        return [r for r in self.results if r.outcome == "failed"]


def summary_rows(results: list[UnitResult]) -> list[dict[str, Any]]:
    return [{"unit": r.unit_id, "outcome": r.outcome, "rows": r.rows, "bytes": r.bytes, "files": r.files,
             "seconds": round(r.seconds, 3), "rows_per_s": round(r.rows_per_second), "error": r.error or ""}
            for r in results]


@flow(name="archival-run", task_runner=task_runner("thread"))
def archival_run(project_dir: str, select: list[str] | None = None, target: str | None = None,
                 run_id: str | None = None, as_of: datetime | None = None,
                 tuning: Tuning | None = None, retry_failed: str | None = None,
                 metrics_file: str | None = None, ignore_quiet_hours: bool = False,
                 progress: bool = False, refresh: Refresh | None = None,
                 verbose: bool = False) -> RunSummary | State:
    """`retry_failed`: a run id; only the units that failed in that run (and are still due) run again.
    `metrics_file`: where to write the run's OpenMetrics text file. `progress`: a live bar when stderr
    is a terminal (plain log lines otherwise; `verbose`: Prefect's INFO lines above the bar too).
    `refresh`: archived periods re-read on purpose (plan/refresh.py), each new version audited with
    its reason. An error an operator can fix (a refused plan, a lock another run holds, a missing
    secret, an archive that cannot be written) ends the run as a Failed state carrying a RunRefused:
    one log line, no traceback."""
    try:
        summary = _run(project_dir, select, target, run_id, as_of, tuning, retry_failed, metrics_file,
                       ignore_quiet_hours, progress, refresh, verbose)
        if summary.mismatched:  # `reconcile: after_run` found a difference: the run fails, its summary kept
            return Failed(message=f"{len(summary.mismatched)} period(s) differ from the source after the run",
                          data=summary)
        return summary
    except Exception as exc:
        refused = refusal(exc)
        if refused is None:
            raise  # not one an operator can fix: Prefect records it with its traceback
        _audit_refused(project_dir, target, run_id, as_of, refused.lines)
        return Failed(message="; ".join(refused.lines)[:1000], data=refused)


def _audit_refused(project_dir: str, target: str | None, run_id: str | None, as_of: datetime | None,
                   lines: list[str]) -> None:
    """A refused run is audited too, where the archive can take the entry (a bad spec or an archive
    that cannot be written leaves the refusal on stderr and in Prefect only)."""
    try:
        project = load_project(project_dir)
        store = open_store(project, target)
    except (SpecErrors, ArchiveUnavailable, TargetError, SecretError):
        return
    header = {"as_of": as_of.isoformat() if as_of else None, "finished_at": datetime.now(UTC).isoformat()}
    try:
        audit_run(store, run_id or new_run_id(), "refused", who(project.root), header, [],
                  problem="; ".join(lines)[:1000])
    except ArchiveUnavailable:
        return  # the refusal was that the archive cannot be written
    record_head(store, project.root, project.name)


def _run(project_dir: str, select: list[str] | None, target: str | None, run_id: str | None,
         as_of: datetime | None, tuning: Tuning | None, retry_failed: str | None, metrics_file: str | None,
         ignore_quiet_hours: bool, progress: bool, refresh: Refresh | None, verbose: bool) -> RunSummary:
    started = time.perf_counter()
    with prepare(project_dir, select, target, as_of=as_of, tuning=tuning, run_id=run_id,
                 ignore_quiet_hours=ignore_quiet_hours, global_limits=server_configured(),
                 refresh=refresh) as (plan, ctx):
        if plan.has_errors:  # a spec/source mismatch or a refused identity change: run nothing
            raise PlanRefused([f"{n.table}: {n.message}" for n in plan.notes if n.level == "error"])
        ctx.sweep_stale_work()
        due = list(plan.due)
        if retry_failed:
            failed = failed_units(ctx.store, retry_failed)
            due = [u for u in due if u.id in failed]
        with record_space(ctx.store, ctx.work_root, len(due)):
            summary = RunSummary(ctx.run_id, ctx.target, _execute(ctx, due, progress, verbose))
        if not STOP.requested:
            summary.reconciled = reconcile_written(ctx, summary.results)
        header = run_header(plan, ctx) | ({"retry_of": retry_failed} if retry_failed else {})
        if summary.mismatched:
            header["reconcile_mismatches"] = [{"table": r.table, "period": r.period, "missing": r.missing_keys,
                                               "extra": r.extra_keys, "different": r.different_keys}
                                              for r in summary.mismatched]
        if STOP.requested:
            summary.interrupted = header["interrupted"] = STOP.reason
        summary.record_path = write_run_record(ctx.store, ctx.run_id, header, summary.results)
        failpoint("run:record")
        outcome = "interrupted" if STOP.requested else "failed" if summary.failed or summary.mismatched else "ok"
        audit_run(ctx.store, ctx.run_id, outcome, who(ctx.project.root), header, summary.results, summary.record_path)
        record_head(ctx.store, ctx.project.root, ctx.project.name)
    if metrics_file:
        write_metrics(Path(metrics_file), ctx.project.name, ctx.run_id, summary.results,
                      time.perf_counter() - started, ctx.project, ctx.store)
    _artifact(plan, ctx, summary)
    return summary


def _execute(ctx: RunContext, due: list[ExportUnit], progress: bool, verbose: bool) -> list[UnitResult]:
    with shared_snapshots(ctx, {u.source for u in due}) as problems:
        for problem in problems:
            get_run_logger().warning(problem)
        if ctx.global_limits:
            sync_global_limits(ctx.project, {u.source for u in due})
        with RunProgress(len(due), get_run_logger(), live=None if progress else False, verbose=verbose) as bar:
            return run_items(ctx, work_items(due), Quota(ctx.project.limits), bar)


def _artifact(plan: Plan, ctx: RunContext, summary: RunSummary) -> None:
    table = summary_rows(summary.results)
    total = totals(summary.results)
    table.append({"unit": "TOTAL", "outcome": str(total["outcomes"]), "rows": total["rows"], "bytes": total["bytes"],
                  "files": sum(r.files for r in summary.results), "seconds": round(total["unit_seconds"], 3),
                  "rows_per_s": round(total["rows_per_second"]), "error": ""})
    catalog = ctx.project.root / "catalog" / "index.html"  # `archival docs` writes it there by default
    link = f"; catalog: {catalog.resolve().as_uri()}" if catalog.exists() else ""
    create_table_artifact(table=table, key=f"archival-run-{plan.project}".lower().replace("_", "-"),
                          description=f"archival run {ctx.run_id} -> {ctx.target}{link}")


def run_project(project_dir: Path, runner: RunnerKind = "thread", dask_address: str | None = None,
                workers: int | None = None, **kwargs: Any) -> RunSummary:
    """Run the flow with the chosen task runner (see archival.run.runners)."""
    chosen = archival_run.with_options(task_runner=task_runner(runner, dask_address, workers))
    return chosen(str(project_dir), **kwargs)


def run_outcome(project_dir: Path, runner: RunnerKind = "thread", dask_address: str | None = None,
                workers: int | None = None, **kwargs: Any) -> RunSummary | RunRefused:
    """The run's summary, or the refusal it ended on (an unexpected error is raised)."""
    state = run_project(project_dir, runner, dask_address, workers, return_state=True, **kwargs)
    outcome = state.result(raise_on_failure=False)
    if isinstance(outcome, BaseException) and not isinstance(outcome, RunRefused):
        raise outcome
    return outcome

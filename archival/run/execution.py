"""One run, whoever executes its units (run/dispatch.py): prepare (the project, the table locks, the
plan), run the due work items, reconcile what `reconcile: after_run` asks for, then the run record,
the audit entry, the audit head's anchor and the metrics file. The Prefect flow (run/flow.py) and
the direct CLI run (run/direct.py) are both this function."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archival.archive.layout import new_run_id
from archival.archive.store import ArchiveUnavailable
from archival.archive.targets import TargetError, open_store
from archival.failpoints import failpoint
from archival.plan.refresh import Refresh
from archival.plan.units import ExportUnit, UnitResult
from archival.record.anchor import record_head
from archival.record.initiator import who
from archival.record.metrics import write_metrics
from archival.record.runs import audit_run, failed_units, record_space, settle_unrecorded, write_run_record
from archival.run.after_run import reconcile_written
from archival.run.context import RunContext, Tuning, shared_snapshots
from archival.run.dispatch import Dispatch
from archival.run.gate import Quota
from archival.run.inline import run_header
from archival.run.interrupt import STOP
from archival.run.items import run_items
from archival.run.limits import sync_global_limits
from archival.run.prepare import prepare
from archival.run.progress import RunProgress
from archival.run.refusal import PlanRefused, RunRefused, refusal
from archival.run.work import work_items
from archival.source.secrets import SecretError
from archival.spec.errors import SpecErrors
from archival.spec.load import load_project

if TYPE_CHECKING:
    from archival.verify.reconcile import PeriodReport


@dataclass
class RunSummary:
    run_id: str
    target: str
    results: list[UnitResult] = field(default_factory=list)
    record_path: str | None = None
    interrupted: str | None = None  # the run was asked to stop (run/interrupt.py)
    reconciled: list[PeriodReport] = field(default_factory=list)  # `reconcile: after_run` (run/after_run.py)
    project: str = ""
    catalog: Path | None = None  # the project's catalog page, when `archival docs` wrote one

    @property
    def mismatched(self) -> list[PeriodReport]:
        return [r for r in self.reconciled if r.status != "ok"]

    @property
    def failed(self) -> list[UnitResult]:
        return [r for r in self.results if r.outcome == "failed"]


@dataclass(frozen=True)
class RunRequest:
    """What `archival run` asks for. `retry_failed`: a run id; only the units that failed in that run
    (and are still due) run again. `metrics_file`: where to write the run's OpenMetrics text file.
    `progress`: a live bar when stderr is a terminal (plain log lines otherwise; `verbose`: the INFO
    lines above the bar too). `refresh`: archived periods re-read on purpose (plan/refresh.py)."""

    project_dir: str
    select: list[str] | None = None
    target: str | None = None
    run_id: str | None = None
    as_of: datetime | None = None
    tuning: Tuning | None = None
    retry_failed: str | None = None
    metrics_file: str | None = None
    ignore_quiet_hours: bool = False
    progress: bool = False
    refresh: Refresh | None = None
    verbose: bool = False


def guarded(request: RunRequest, body: Callable[[], RunSummary]) -> RunSummary | RunRefused:
    """`body`'s summary, or the refusal it ended on (audited where the archive can take it); an error
    an operator cannot fix is raised with its traceback."""
    try:
        return body()
    except Exception as exc:
        refused = refusal(exc)
        if refused is None:
            raise
        _audit_refused(request, refused.lines)
        return refused


def _audit_refused(request: RunRequest, lines: list[str]) -> None:
    """A refused run is audited too, where the archive can take the entry (a bad spec or an archive
    that cannot be written leaves the refusal on stderr and in Prefect only)."""
    try:
        project = load_project(request.project_dir)
        store = open_store(project, request.target)
    except (SpecErrors, ArchiveUnavailable, TargetError, SecretError):
        return
    header = {"as_of": request.as_of.isoformat() if request.as_of else None,
              "finished_at": datetime.now(UTC).isoformat()}
    try:
        audit_run(store, request.run_id or new_run_id(), "refused", who(project.root), header, [],
                  problem="; ".join(lines)[:1000])
    except ArchiveUnavailable:
        return  # the refusal was that the archive cannot be written
    record_head(store, project.root, project.name)


def execute_run(request: RunRequest, dispatch: Dispatch, global_limits: bool) -> RunSummary:
    """`global_limits`: units also hold slots of the Prefect server's global concurrency limits."""
    started = time.perf_counter()
    with prepare(request.project_dir, request.select, request.target, as_of=request.as_of, tuning=request.tuning,
                 run_id=request.run_id, ignore_quiet_hours=request.ignore_quiet_hours, global_limits=global_limits,
                 refresh=request.refresh) as (plan, ctx):
        if plan.has_errors:  # a spec/source mismatch or a refused identity change: run nothing
            raise PlanRefused([f"{n.table}: {n.message}" for n in plan.notes if n.level == "error"])
        ctx.sweep_stale_work()
        due = list(plan.due)
        if request.retry_failed:
            failed = failed_units(ctx.store, request.retry_failed)
            due = [u for u in due if u.id in failed]
        catalog = ctx.project.root / "catalog" / "index.html"  # `archival docs` writes it there by default
        with record_space(ctx.store, ctx.work_root, len(due)):
            summary = RunSummary(ctx.run_id, ctx.target, _execute(ctx, due, request, dispatch),
                                 project=plan.project, catalog=catalog if catalog.exists() else None)
        if not STOP.requested:
            summary.reconciled = reconcile_written(ctx, summary.results, dispatch.event)
        header = run_header(plan, ctx) | ({"retry_of": request.retry_failed} if request.retry_failed else {})
        if summary.mismatched:
            header["reconcile_mismatches"] = [{"table": r.table, "period": r.period, "missing": r.missing_keys,
                                               "extra": r.extra_keys, "different": r.different_keys}
                                              for r in summary.mismatched]
        if STOP.requested:
            summary.interrupted = header["interrupted"] = STOP.reason
        failed = {r.unit_id for r in summary.results if r.outcome == "failed"}
        settle_unrecorded(ctx.store, ctx.run_id, [u for u in due if u.id in failed])
        summary.record_path = write_run_record(ctx.store, ctx.run_id, header, summary.results)
        failpoint("run:record")
        outcome = "interrupted" if STOP.requested else "failed" if summary.failed or summary.mismatched else "ok"
        audit_run(ctx.store, ctx.run_id, outcome, who(ctx.project.root), header, summary.results, summary.record_path)
        record_head(ctx.store, ctx.project.root, ctx.project.name)
    if request.metrics_file:
        write_metrics(Path(request.metrics_file), ctx.project.name, ctx.run_id, summary.results,
                      time.perf_counter() - started, ctx.project, ctx.store)
    return summary


def _execute(ctx: RunContext, due: list[ExportUnit], request: RunRequest, dispatch: Dispatch) -> list[UnitResult]:
    with shared_snapshots(ctx, {u.source for u in due}) as problems:
        for problem in problems:
            dispatch.logger.warning(problem)
        if ctx.global_limits:
            sync_global_limits(ctx.project, {u.source for u in due})
        with RunProgress(len(due), dispatch.logger, live=None if request.progress else False,
                         verbose=request.verbose) as bar:
            return run_items(ctx, work_items(due), Quota(ctx.project.limits), bar, dispatch)


def summary_rows(results: list[UnitResult]) -> list[dict[str, Any]]:
    return [{"unit": r.unit_id, "outcome": r.outcome, "rows": r.rows, "bytes": r.bytes, "files": r.files,
             "seconds": round(r.seconds, 3), "rows_per_s": round(r.rows_per_second), "error": r.error or ""}
            for r in results]

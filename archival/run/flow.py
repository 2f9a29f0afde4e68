"""The Prefect flow. `archival_run` is run/execution.py's run with a Prefect task per work item
(run/tasks.py) on the chosen task runner, the global concurrency limits of a shared server, and a
table artifact of the summary. Deployments run it once per domain (`select: [domain:NAME]`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from prefect.artifacts import create_table_artifact
from prefect.states import Failed, State

from archival.plan.refresh import Refresh
from archival.record.runs import totals
from archival.run.context import Tuning
from archival.run.execution import RunRequest, RunSummary, execute_run, guarded, summary_rows
from archival.run.heartbeat import engine_heartbeat_replaced, flow_heartbeat
from archival.run.limits import server_configured
from archival.run.prefect_flow import archival_flow
from archival.run.refusal import RunRefused
from archival.run.runners import RunnerKind, task_runner
from archival.run.tasks import PrefectDispatch

__all__ = ["RunSummary", "archival_run", "run_outcome", "run_project"]


@archival_flow(name="archival-run", task_runner=task_runner("thread"))
def archival_run(project_dir: str, select: list[str] | None = None, target: str | None = None,
                 run_id: str | None = None, as_of: datetime | None = None,
                 tuning: Tuning | None = None, retry_failed: str | None = None,
                 metrics_file: str | None = None, ignore_quiet_hours: bool = False,
                 progress: bool = False, refresh: Refresh | None = None,
                 verbose: bool = False) -> RunSummary | State:
    """The parameters are RunRequest's. An error an operator can fix (a refused plan, a lock another
    run holds, a missing secret, an archive that cannot be written) ends the run as a Failed state
    carrying a RunRefused: one log line, no traceback."""
    request = RunRequest(project_dir, select, target, run_id, as_of, tuning, retry_failed, metrics_file,
                         ignore_quiet_hours, progress, refresh, verbose)
    with flow_heartbeat():
        outcome = guarded(request, lambda: _run(request))
    if isinstance(outcome, RunRefused):
        return Failed(message="; ".join(outcome.lines)[:1000], data=outcome)
    if outcome.mismatched:  # `reconcile: after_run` found a difference: the run fails, its summary kept
        return Failed(message=f"{len(outcome.mismatched)} period(s) differ from the source after the run",
                      data=outcome)
    return outcome


def _run(request: RunRequest) -> RunSummary:
    summary = execute_run(request, PrefectDispatch(), global_limits=server_configured())
    _artifact(summary)
    return summary


def _artifact(summary: RunSummary) -> None:
    table = summary_rows(summary.results)
    total = totals(summary.results)
    table.append({"unit": "TOTAL", "outcome": str(total["outcomes"]), "rows": total["rows"], "bytes": total["bytes"],
                  "files": sum(r.files for r in summary.results), "seconds": round(total["unit_seconds"], 3),
                  "rows_per_s": round(total["rows_per_second"]), "error": ""})
    link = f"; catalog: {summary.catalog.resolve().as_uri()}" if summary.catalog else ""
    create_table_artifact(table=table, key=f"archival-run-{summary.project}".lower().replace("_", "-"),
                          description=f"archival run {summary.run_id} -> {summary.target}{link}")


def run_project(project_dir: Path, runner: RunnerKind = "thread", dask_address: str | None = None,
                workers: int | None = None, **kwargs: Any) -> RunSummary:
    """Run the flow with the chosen task runner (see archival.run.runners); its heartbeat is the
    body's, which stops when the body ends (run/heartbeat.py)."""
    chosen = archival_run.with_options(task_runner=task_runner(runner, dask_address, workers))
    with engine_heartbeat_replaced():
        return chosen(str(project_dir), **kwargs)


def run_outcome(project_dir: Path, runner: RunnerKind = "thread", dask_address: str | None = None,
                workers: int | None = None, **kwargs: Any) -> RunSummary | RunRefused:
    """The run's summary, or the refusal it ended on (an unexpected error is raised)."""
    state = run_project(project_dir, runner, dask_address, workers, return_state=True, **kwargs)
    outcome = state.result(raise_on_failure=False)
    if isinstance(outcome, BaseException) and not isinstance(outcome, RunRefused):
        raise outcome
    return outcome

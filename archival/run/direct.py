"""`archival run` without a Prefect server: run/execution.py's run with its units on a thread pool in
this process (DirectDispatch: the same admission, limits, quotas, quiet hours, retries and records
as the flow), so the command pays for no server and imports no Prefect. The CLI takes this path when
no Prefect API is configured and the thread runner is asked for; `--prefect` (or a configured API)
runs the Prefect flow instead."""

from __future__ import annotations

from archival.run.console import console_lines
from archival.run.dispatch import DirectDispatch
from archival.run.execution import RunRequest, RunSummary, execute_run, guarded
from archival.run.refusal import RunRefused
from archival.run.repeats import once_per_warning


def run_direct(request: RunRequest, workers: int | None = None, debug: bool = False) -> RunSummary | RunRefused:
    """The run's summary, or the refusal it ended on (an unexpected error is raised). `debug`: keep
    tracebacks in warning lines."""
    with console_lines() as logger, once_per_warning(debug=debug), DirectDispatch(logger, workers) as dispatch:
        return guarded(request, lambda: execute_run(request, dispatch, global_limits=False))

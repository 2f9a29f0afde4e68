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
from archival.run.runners import RunnerError


def runs_as_flow(prefect: bool | None, runner: str) -> bool:
    """A Prefect flow when asked for (`prefect` True), when the runner ships units through Prefect
    (process, Dask), or, unless refused (`prefect` False), when a Prefect API is configured (its
    history, global limits and automations); otherwise the run is direct."""
    from archival.run.server import api_url_configured

    if prefect is False and runner != "thread":
        raise RunnerError(f"--runner {runner} runs Prefect tasks: it cannot go with --no-prefect")
    return prefect if prefect is not None else runner != "thread" or api_url_configured()


def run_direct(request: RunRequest, workers: int | None = None, debug: bool = False) -> RunSummary | RunRefused:
    """The run's summary, or the refusal it ended on (an unexpected error is raised). `debug`: keep
    tracebacks in warning lines."""
    with console_lines() as logger, once_per_warning(debug=debug), DirectDispatch(logger, workers) as dispatch:
        return guarded(request, lambda: execute_run(request, dispatch, global_limits=False))

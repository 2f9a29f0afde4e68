"""`archival run`: direct or as a Prefect flow, stopped cleanly by a signal (`archival reconcile
--repair` runs it too, cli/reconcile.py)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from archival.cli.common import FAILED, OK, USAGE, load, refresh_request
from archival.run.summary import render_summary

if TYPE_CHECKING:
    from archival.plan.refresh import Refresh


def cmd_run(args: argparse.Namespace) -> int:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no phone home unless asked for
    problem = tmpdir_problem()
    if problem:
        print(f"archival run: {problem}", file=sys.stderr)
        return FAILED
    from archival.run.runners import RunnerError
    from archival.run.server import launch_early

    try:
        # a flow without a configured server needs a private one: it starts while the specs load
        early = launch_early() if as_flow(args) else None
    except RunnerError as exc:
        print(f"archival run: {exc}", file=sys.stderr)
        return USAGE
    try:
        _, tables = load(args)  # spec and selector errors end here, before anything runs
        return run_flow(args, args.select, refresh_request(args, tables, required=True), early)
    finally:
        if early is not None:
            early.stop()


def as_flow(args: argparse.Namespace) -> bool:
    from archival.run.direct import runs_as_flow

    return runs_as_flow(getattr(args, "prefect", None), getattr(args, "runner", "thread"))


def run_flow(args: argparse.Namespace, select: list[str] | None, refresh: Refresh | None,
             early=None) -> int:
    """The run on the selection, as a Prefect flow or direct (as_flow); prints its summary or the
    refusal it ended on. The first SIGINT/SIGTERM stops the run cleanly (exit 130/143,
    run/interrupt.py). `early`: the private Prefect server, launched already."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no phone home unless asked for
    problem = tmpdir_problem()
    if problem:
        print(f"archival run: {problem}", file=sys.stderr)
        return FAILED
    from archival.run.execution import RunRequest
    from archival.run.interrupt import EXIT_CODES, stop_on_signals
    from archival.run.refusal import RunRefused
    from archival.run.runners import RunnerError, SchedulerUnreachable
    from archival.run.server import ServerFailed

    request = RunRequest(str(args.project_dir), select, args.target, as_of=getattr(args, "as_of", None),
                         retry_failed=getattr(args, "retry_failed", None),
                         metrics_file=getattr(args, "metrics_file", None),
                         ignore_quiet_hours=getattr(args, "ignore_quiet_hours", False),
                         progress=not args.no_progress, refresh=refresh, verbose=bool(getattr(args, "verbose", 0)))
    try:
        with stop_on_signals() as stop:
            summary = _flow(args, request, early) if early is not None or as_flow(args) else _direct(args, request)
            stopped = EXIT_CODES.get(stop.signal) if stop.requested else None  # type: ignore[call-overload]
    except (RunnerError, ServerFailed) as exc:
        print(f"archival run: {exc}", file=sys.stderr)
        return FAILED if isinstance(exc, SchedulerUnreachable | ServerFailed) else USAGE
    if isinstance(summary, RunRefused):
        for line in summary.lines:
            print(line, file=sys.stderr)
        return stopped or summary.code
    sys.stdout.write(render_summary(summary.results, summary.run_id, summary.target))
    from archival.run.after_run import mismatch_lines

    for line in mismatch_lines(summary.mismatched):
        print(f"archival run: {line}", file=sys.stderr)
    if stopped:
        print(f"archival run: {summary.interrupted or 'interrupted'}; the run record is {summary.record_path}; "
              "what did not run is due next time", file=sys.stderr)
        return stopped
    return FAILED if summary.failed or summary.mismatched else OK


def _flow(args: argparse.Namespace, request, early):
    from archival.run.flow import run_outcome  # imports Prefect: only a flow pays for it
    from archival.run.repeats import once_per_warning
    from archival.run.server import prefect_api

    with prefect_api(early), once_per_warning(debug=args.debug):
        return run_outcome(args.project_dir, runner=getattr(args, "runner", "thread"),
                           dask_address=getattr(args, "dask_address", None), workers=getattr(args, "workers", None),
                           **{f: getattr(request, f) for f in RUN_PARAMETERS})


RUN_PARAMETERS = ("select", "target", "as_of", "retry_failed", "metrics_file", "ignore_quiet_hours", "progress",
                  "refresh", "verbose")


def _direct(args: argparse.Namespace, request):
    from archival.run.direct import run_direct

    return run_direct(request, workers=getattr(args, "workers", None), debug=args.debug)


def tmpdir_problem() -> str | None:
    """TMPDIR holds scratch files of S3 runs and of the Prefect server: name it when it cannot be used."""
    import tempfile

    folder = tempfile.gettempdir()
    try:
        with tempfile.TemporaryFile() as probe:
            probe.write(b"\0" * 65536)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        return (f"TMPDIR {folder} cannot be used: {exc.strerror or exc}; free space there or point TMPDIR at "
                "another folder")
    return None

"""Where the units of a run execute. The plan, the admission of units and the summary stay in the
flow process; only `export_unit_task` moves, so every runner archives exactly the same files.

- thread (default): a thread pool in the flow process; DuckDB releases the GIL while it works.
- process: local worker processes (Prefect's ProcessPoolTaskRunner), for a machine with more cores
  than one DuckDB per unit can use.
- dask: prefect-dask's DaskTaskRunner on a Dask cluster at `dask_address`, or on a temporary
  LocalCluster of `workers` processes without one. Workers need the project files, network access
  to the sources and the target, and the secrets in their own environment: nothing secret is
  pickled to them (see RunContext)."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Literal, get_args
from urllib.parse import urlsplit

if TYPE_CHECKING:  # the CLI reads the vocabulary without paying for Prefect's import
    from prefect.task_runners import TaskRunner

RunnerKind = Literal["thread", "process", "dask"]
RUNNER_KINDS: tuple[str, ...] = get_args(RunnerKind)
DEFAULT_WORKERS = 8  # in-flight units are bounded by the per-source limits anyway


class RunnerError(Exception):
    """A runner choice that cannot work (bad usage): nothing has run."""


class SchedulerUnreachable(RunnerError):
    """The Dask scheduler does not answer: checked before the flow starts, so nothing was written."""


DASK_SCHEMES = ("tcp", "tls")
REACH_TIMEOUT_SECONDS = 5


def check_dask_address(address: str) -> None:
    """`tcp://HOST:PORT` (or tls://) that accepts a connection now; distributed would otherwise wait
    30 s inside the flow and end in a traceback."""
    url = urlsplit(address)
    try:
        port = url.port
    except ValueError:
        port = None
    if url.scheme not in DASK_SCHEMES or not url.hostname or port is None:
        raise RunnerError(f"--dask-address '{address}' is not a scheduler address; expected tcp://HOST:PORT")
    try:
        socket.create_connection((url.hostname, port), timeout=REACH_TIMEOUT_SECONDS).close()
    except OSError as exc:
        raise SchedulerUnreachable(f"no Dask scheduler answers at {address} ({exc.strerror or exc}); "
                                   "start one (`dask scheduler`) or leave out --dask-address for a local cluster") \
            from None


def task_runner(kind: RunnerKind = "thread", dask_address: str | None = None,
                workers: int | None = None) -> TaskRunner:
    if kind not in RUNNER_KINDS:
        raise RunnerError(f"unknown runner '{kind}'; choose one of: {', '.join(RUNNER_KINDS)}")
    if dask_address and kind != "dask":
        raise RunnerError("--dask-address needs --runner dask")
    if workers is not None and workers < 1:
        raise RunnerError(f"--workers must be at least 1, got {workers}")
    from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

    if kind == "thread":
        return ThreadPoolTaskRunner(max_workers=workers or DEFAULT_WORKERS)
    if kind == "process":
        return ProcessPoolTaskRunner(max_workers=workers or 2)
    from prefect_dask import DaskTaskRunner

    if dask_address:
        if workers is not None:
            raise RunnerError("--workers sizes a temporary local cluster; a cluster at --dask-address has its own size")
        check_dask_address(dask_address)
        return DaskTaskRunner(address=dask_address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": workers or 2, "threads_per_worker": 1, "processes": True})

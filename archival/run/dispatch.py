"""Who executes a run's batches of work items (run/items.py admits and collects them the same way
for both):

- `PrefectDispatch` (run/tasks.py): a Prefect task per batch on the flow's task runner (thread,
  process, Dask), with the flow run's logs, events and the global concurrency limits of a shared
  server;
- `DirectDispatch` (here): a thread pool in this process, for a CLI run with no Prefect server
  configured: no server to start and no API call per unit, so a run that has little to do takes a
  second or two instead of the server's start-up (docs/performance.md)."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from archival.run.context import RunContext
from archival.run.items import BatchOutcome, run_batch
from archival.run.runners import DEFAULT_WORKERS
from archival.run.work import WorkItem


class Dispatch(Protocol):
    logger: logging.Logger | logging.LoggerAdapter

    def submit(self, ctx: RunContext, batch: list[WorkItem]) -> Any:
        """A future (`result()`, `add_done_callback`) of the batch's BatchOutcome."""

    def batch_size(self, source: str, waiting: int, limit: int) -> int:
        """How many waiting items of `source` the next batch takes."""

    def event(self, name: str, resource: dict[str, str], payload: dict[str, Any]) -> None:
        """An event automations can act on (nothing where no Prefect server listens)."""


class DirectDispatch:
    def __init__(self, logger: logging.Logger | logging.LoggerAdapter, workers: int | None = None):
        self.logger = logger
        self._pool = ThreadPoolExecutor(max_workers=workers or DEFAULT_WORKERS, thread_name_prefix="archival-unit")

    def __enter__(self) -> DirectDispatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)

    def submit(self, ctx: RunContext, batch: list[WorkItem]) -> Future[BatchOutcome]:
        return self._pool.submit(run_batch, ctx, batch, self.logger)

    def batch_size(self, source: str, waiting: int, limit: int) -> int:
        return 1  # a thread costs nothing per item: one item per batch keeps every slot busy

    def event(self, name: str, resource: dict[str, str], payload: dict[str, Any]) -> None:
        return None  # no Prefect server: the run record, the audit trail and the metrics file carry it

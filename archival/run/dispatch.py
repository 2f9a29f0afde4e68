"""Who executes a run's work items (run/items.py admits and collects them the same way for both):

- `PrefectDispatch` (run/tasks.py): a Prefect task per item on the flow's task runner (thread,
  process, Dask), with Prefect's retries, logs, events and global concurrency limits;
- `DirectDispatch` (here): a thread pool in this process with the same retry policy, for a CLI run
  with no Prefect server configured: no server to start and no API call per unit, so a run that has
  little to do takes a second or two instead of the server's start-up (docs/performance.md)."""

from __future__ import annotations

import logging
import random
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from archival.plan.units import UnitResult
from archival.run.context import RunContext
from archival.run.errors import classify
from archival.run.interrupt import STOP
from archival.run.items import cause, export_item
from archival.run.runners import DEFAULT_WORKERS
from archival.run.work import WorkItem

RETRIES = 3  # after the first attempt; transient failures only (run/errors.py)
BACKOFF_SECONDS = 2.0  # before retry n: 2, 4, 8 s ...
JITTER = 0.5  # ... each within +-50%, so units failing together do not retry together


def retry_delay(retry: int, rng: random.Random | None = None) -> float:
    """Seconds before retry `retry` (1-based): Prefect's exponential_backoff(2) with jitter 0.5."""
    base = BACKOFF_SECONDS * 2 ** (retry - 1)
    return (rng or random).uniform(base * (1 - JITTER), base * (1 + JITTER))


class Dispatch(Protocol):
    logger: logging.Logger | logging.LoggerAdapter

    def submit(self, ctx: RunContext, item: WorkItem) -> Any:
        """A future (`result()`, `add_done_callback`) of the item's results."""

    def attempts(self, future: Any) -> int:
        """How often a failed item ran, retries included."""

    def event(self, name: str, resource: dict[str, str], payload: dict[str, Any]) -> None:
        """An event automations can act on (nothing where no Prefect server listens)."""


class DirectDispatch:
    def __init__(self, logger: logging.Logger | logging.LoggerAdapter, workers: int | None = None):
        self.logger = logger
        self._pool = ThreadPoolExecutor(max_workers=workers or DEFAULT_WORKERS, thread_name_prefix="archival-unit")
        self._attempts: dict[int, list[int]] = {}

    def __enter__(self) -> DirectDispatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)

    def submit(self, ctx: RunContext, item: WorkItem) -> Future[list[UnitResult]]:
        count = [0]
        future = self._pool.submit(self._with_retries, ctx, item, count)
        self._attempts[id(future)] = count
        return future

    def attempts(self, future: Any) -> int:
        return self._attempts.get(id(future), [1])[0] or 1

    def event(self, name: str, resource: dict[str, str], payload: dict[str, Any]) -> None:
        return None  # no Prefect server: the run record, the audit trail and the metrics file carry it

    def _with_retries(self, ctx: RunContext, item: WorkItem, count: list[int]) -> list[UnitResult]:
        while True:
            count[0] += 1
            try:
                return export_item(ctx, item, self.logger, count[0])
            except Exception as exc:
                error = cause(exc)
                if count[0] > RETRIES or classify(error) != "transient" or STOP.requested:
                    raise
                delay = retry_delay(count[0])
                self.logger.warning("%s: attempt %d failed (%s: %s); retrying in %.1f s", item.id, count[0],
                                    type(error).__name__, error, delay)
                if STOP.wait(delay):  # asked to stop while waiting: the failure stands, nothing more starts
                    raise

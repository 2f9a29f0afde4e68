"""The Prefect side of a run: a task per batch of work items on the flow's task runner (thread,
process, Dask), admitted and collected by run/items.py. A task and its global-limit slot cost
about 0.1 s of API traffic each (docs/performance.md), so consecutive small items of one source
share a task once a source has many waiting: up to MAX_BATCH per task, and never so many that its
`max_parallel` lanes run out of work. Items retry transient failures inside their task."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from archival.run.context import RunContext
from archival.run.items import BatchOutcome, run_batch
from archival.run.work import WorkItem

MAX_BATCH = 20  # items per task at most: a task's logs and duration stay readable in the UI
LANE_ROUNDS = 2  # keep at least this many batches per lane of a source waiting, so lanes end together


def batch_name(batch: list[WorkItem]) -> str:
    return batch[0].id if len(batch) == 1 else f"{batch[0].id} (+{len(batch) - 1} items)"


def _run_name() -> str:
    from prefect.runtime import task_run

    return batch_name(task_run.parameters["batch"])


class OpaqueContext:
    """The run context as a task parameter Prefect does not walk. Prefect visits every parameter for
    futures (visit_collection: into lists, dicts, dataclasses, pydantic models, not other objects),
    twice per task, and the context holds the project with every table's spec: 0.15 s a task with
    300 tables. Prefect's own `quote` does this on the thread runner, but reaches a Dask worker as a
    bare tuple."""

    __slots__ = ("ctx",)

    def __init__(self, ctx: RunContext):
        self.ctx = ctx


@task(name="export", cache_policy=NO_CACHE, task_run_name=_run_name)
def export_batch_task(parcel: OpaqueContext, batch: list[WorkItem]) -> BatchOutcome:
    """Runs wherever the task runner puts it (thread, process, Dask worker): the context arrives
    pickled."""
    return run_batch(parcel.ctx, batch, get_run_logger())


class PrefectDispatch:
    """Inside the flow: the flow run's logger, a task per batch, Prefect events."""

    def __init__(self) -> None:
        self.logger = get_run_logger()

    def submit(self, ctx: RunContext, batch: list[WorkItem]) -> Any:
        return export_batch_task.submit(OpaqueContext(ctx), batch)

    def batch_size(self, source: str, waiting: int, limit: int) -> int:
        return max(1, min(MAX_BATCH, waiting // (limit * LANE_ROUNDS)))

    def event(self, name: str, resource: dict[str, str], payload: dict[str, Any]) -> None:
        emit_event(event=name, resource=resource, payload=payload)

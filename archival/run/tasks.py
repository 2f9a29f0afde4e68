"""The Prefect side of a run: a task per work item on the flow's task runner (thread, process, Dask),
admitted and collected by run/items.py. Tasks retry transient failures with exponential backoff and
jitter (the policy DirectDispatch copies); systemic ones fail at once."""

from __future__ import annotations

from typing import Any

from prefect import get_client, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.runtime import task_run as task_run_runtime
from prefect.tasks import exponential_backoff

from archival.plan.units import UnitResult
from archival.run.context import RunContext
from archival.run.dispatch import BACKOFF_SECONDS, JITTER, RETRIES
from archival.run.errors import classify
from archival.run.items import cause, export_item
from archival.run.work import WorkItem


def _retry_if_transient(task, task_run, state) -> bool:
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - the state carries the item's exception
        return classify(cause(exc)) == "transient"
    return False


@task(name="export", retries=RETRIES, retry_delay_seconds=exponential_backoff(backoff_factor=BACKOFF_SECONDS),
      retry_jitter_factor=JITTER, retry_condition_fn=_retry_if_transient, cache_policy=NO_CACHE,
      task_run_name="{item.id}")
def export_item_task(ctx: RunContext, item: WorkItem) -> list[UnitResult]:
    """Runs wherever the task runner puts it (thread, process, Dask worker): `ctx` arrives pickled."""
    return export_item(ctx, item, get_run_logger(), task_run_runtime.get_run_count())


class PrefectDispatch:
    """Inside the flow: the flow run's logger, a task per item, Prefect events."""

    def __init__(self) -> None:
        self.logger = get_run_logger()

    def submit(self, ctx: RunContext, item: WorkItem) -> Any:
        return export_item_task.submit(ctx, item)

    def attempts(self, future: Any) -> int:
        """Read from the API (the task cannot report it once it raised)."""
        try:
            with get_client(sync_client=True) as client:
                return client.read_task_run(future.task_run_id).run_count or 1
        except Exception:  # noqa: BLE001 - a summary detail, never a reason to fail the run
            return 1

    def event(self, name: str, resource: dict[str, str], payload: dict[str, Any]) -> None:
        emit_event(event=name, resource=resource, payload=payload)

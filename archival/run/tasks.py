"""The Prefect side of a run: a task per work item (one unit, or the units of one shared transaction),
admitted in plan order as their source has room and the run's quota allows, collected as each ends.
The flow process decides, so the limits hold whichever runner executes the tasks. Tasks retry
transient failures with exponential backoff and jitter; systemic ones fail at once."""

from __future__ import annotations

import os
import queue
import socket
import time
from typing import Any

from prefect import get_client, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.runtime import task_run as task_run_runtime
from prefect.tasks import exponential_backoff

from archival.plan.units import UnitResult
from archival.run.breaker import SourceBreaker, target_trouble
from archival.run.context import RunContext
from archival.run.errors import classify
from archival.run.gate import Quota, in_quiet_hours
from archival.run.interrupt import STOP, Interrupted
from archival.run.limits import Admission, global_slot
from archival.run.progress import RunProgress
from archival.run.unit import failed_result
from archival.run.work import ItemFailed, WorkItem, run_item

RETRIES = 3


def _cause(exc: BaseException) -> BaseException:
    return exc.cause if isinstance(exc, ItemFailed) else exc


def _retry_if_transient(task, task_run, state) -> bool:
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - the state carries the item's exception
        return classify(_cause(exc)) == "transient"
    return False


@task(name="export", retries=RETRIES, retry_delay_seconds=exponential_backoff(backoff_factor=2),
      retry_jitter_factor=0.5, retry_condition_fn=_retry_if_transient, cache_policy=NO_CACHE,
      task_run_name="{item.id}")
def export_item_task(ctx: RunContext, item: WorkItem) -> list[UnitResult]:
    """Runs wherever the task runner puts it (thread, process, Dask worker): `ctx` arrives pickled."""
    logger = get_run_logger()
    with global_slot(item.source, ctx.global_limits):  # other flow runs reading this source count too
        domain = ctx.project.domain(item.units[0].domain)
        assert domain is not None
        # checked when the item would start (a slot may have taken a while), not when it was planned
        quiet = None if ctx.ignore_quiet_hours else in_quiet_hours(domain, ctx.clock())
        if quiet:
            reason = f"quiet hours {quiet} ({domain.timezone})"
            logger.info("%s: deferred to the next run: %s", item.id, reason)
            return [UnitResult(u.id, "deferred", error=reason) for u in item.units]
        results = run_item(ctx, item, ctx.lineage, raise_errors=False)
    for result in results:
        result.details["attempts"] = task_run_runtime.get_run_count()
        result.details["worker"] = f"{socket.gethostname()}:{os.getpid()}"  # which process ran it (Dask, processes)
        logger.info("%s: %s, %d rows, %d bytes in %.2fs", result.unit_id, result.outcome, result.rows, result.bytes,
                    result.seconds)
    return results


def run_items(ctx: RunContext, items: list[WorkItem], quota: Quota, progress: RunProgress) -> list[UnitResult]:
    admission = Admission(ctx.project, items)
    breaker = SourceBreaker(ctx.project.limits.pause_source_after)
    ended: queue.Queue = queue.Queue()
    in_flight: dict[Any, tuple[WorkItem, float, Any]] = {}
    results: dict[str, UnitResult] = {}
    logger = get_run_logger()

    def defer(left: list[WorkItem], reason: str) -> None:
        units = [u for item in left for u in item.units]
        for unit in units:
            results[unit.id] = UnitResult(unit.id, "deferred", error=reason)
        if units:  # one line for all of them, not one per unit
            logger.warning("%d unit(s) deferred to the next run: %s", len(units), reason)
        progress.skipped(len(units))

    while admission.waiting or in_flight:
        spent = STOP.reason if STOP.requested else quota.exhausted()
        if spent:  # what has not started waits for the next run, oldest period first
            defer(admission.withdraw_all(), spent)
        for item in admission.admit():
            future = export_item_task.submit(ctx, item)
            in_flight[future.task_run_id] = (item, time.perf_counter(), future)
            progress.started(item.units[0])
            future.add_done_callback(lambda f: ended.put(f.task_run_id))
        if not in_flight:
            break
        item, started, future = in_flight.pop(ended.get())
        admission.finished(item)
        collected = _collect(ctx, item, started, future)
        for result in collected:
            quota.add(result.rows, result.bytes)
            results[result.unit_id] = result
            progress.finished(result)
        if breaker.record(item.source, collected):
            defer(admission.withdraw(item.source), breaker.open[item.source])
        blocked = target_trouble(collected)
        if blocked:
            defer(admission.withdraw_all(), blocked)
    return [results[u.id] for item in items for u in item.units]


def _collect(ctx: RunContext, item: WorkItem, started: float, future: Any) -> list[UnitResult]:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - one item's failure must not hide the others
        done = {r.unit_id: r for r in exc.results} if isinstance(exc, ItemFailed) else {}
        cause = _cause(exc)
        if isinstance(cause, Interrupted):  # stopped on purpose, published nothing: due next run
            return [done.get(u.id) or UnitResult(u.id, "deferred", seconds=time.perf_counter() - started,
                                                 error=str(cause)) for u in item.units]
        attempts = _attempts(future.task_run_id)
        failed = []
        for unit in item.units:
            if unit.id in done:
                failed.append(done[unit.id])
                continue
            result = failed_result(unit, cause, time.perf_counter() - started, classify(cause))
            result.details["attempts"] = attempts
            # an event Prefect automations can alert on; the message is already scrubbed of secrets
            emit_event(event="archival.unit.failed", resource={"prefect.resource.id": f"archival.unit.{unit.id}",
                                                               "archival.error-class": result.error_class or ""},
                       payload={"unit": unit.id, "run_id": ctx.run_id, "error": result.error})
            failed.append(result)
        return failed


def _attempts(task_run_id: Any) -> int:
    """How often a failed item ran, retries included (the task cannot report it once it raised)."""
    try:
        with get_client(sync_client=True) as client:
            return client.read_task_run(task_run_id).run_count or 1
    except Exception:  # noqa: BLE001 - a summary detail, never a reason to fail the run
        return 1

"""How a run executes its work items, whoever executes them (run/dispatch.py): admitted in plan order
as their source has room and the run's quota allows, collected as each ends. This process decides,
so the limits hold whichever runner executes the items; a source that keeps failing is paused and a
target that cannot be written stops what has not started."""

from __future__ import annotations

import os
import queue
import socket
import time
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    import logging

    from archival.run.dispatch import Dispatch


def cause(exc: BaseException) -> BaseException:
    """The unit's own error (a shared transaction's item wraps it)."""
    return exc.cause if isinstance(exc, ItemFailed) else exc


def export_item(ctx: RunContext, item: WorkItem, logger: logging.Logger | logging.LoggerAdapter,
                attempt: int) -> list[UnitResult]:
    """One attempt at one item, wherever it runs (thread, process, Dask worker: `ctx` may arrive pickled)."""
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
        result.details["attempts"] = attempt
        result.details["worker"] = f"{socket.gethostname()}:{os.getpid()}"  # which process ran it (Dask, processes)
        logger.info("%s: %s, %d rows, %d bytes in %.2fs", result.unit_id, result.outcome, result.rows, result.bytes,
                    result.seconds)
    return results


def run_items(ctx: RunContext, items: list[WorkItem], quota: Quota, progress: RunProgress,
              dispatch: Dispatch) -> list[UnitResult]:
    admission = Admission(ctx.project, items)
    breaker = SourceBreaker(ctx.project.limits.pause_source_after)
    ended: queue.Queue = queue.Queue()
    in_flight: dict[int, tuple[WorkItem, float, Any]] = {}
    results: dict[str, UnitResult] = {}
    logger = dispatch.logger

    def defer(left: list[WorkItem], reason: str) -> None:
        units = [u for item in left for u in item.units]
        for unit in units:
            results[unit.id] = UnitResult(unit.id, "deferred", error=reason)
        if units:  # one line for all of them, not one per unit
            logger.warning("%d unit(s) deferred to the next run: %s", len(units), reason)
        progress.skipped(len(units))

    submitted = 0
    while admission.waiting or in_flight:
        spent = STOP.reason if STOP.requested else quota.exhausted()
        if spent:  # what has not started waits for the next run, oldest period first
            defer(admission.withdraw_all(), spent)
        for item in admission.admit():
            submitted += 1
            future = dispatch.submit(ctx, item)
            in_flight[submitted] = (item, time.perf_counter(), future)
            progress.started(item.units[0])
            future.add_done_callback(lambda _f, key=submitted: ended.put(key))
        if not in_flight:
            break
        item, started, future = in_flight.pop(ended.get())
        admission.finished(item)
        collected = _collect(ctx, item, started, future, dispatch)
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


def _collect(ctx: RunContext, item: WorkItem, started: float, future: Any, dispatch: Dispatch) -> list[UnitResult]:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - one item's failure must not hide the others
        done = {r.unit_id: r for r in exc.results} if isinstance(exc, ItemFailed) else {}
        error = cause(exc)
        if isinstance(error, Interrupted):  # stopped on purpose, published nothing: due next run
            return [done.get(u.id) or UnitResult(u.id, "deferred", seconds=time.perf_counter() - started,
                                                 error=str(error)) for u in item.units]
        attempts = dispatch.attempts(future)
        failed = []
        for unit in item.units:
            if unit.id in done:
                failed.append(done[unit.id])
                continue
            result = failed_result(unit, error, time.perf_counter() - started, classify(error))
            result.details["attempts"] = attempts
            # an event Prefect automations can alert on; the message is already scrubbed of secrets
            dispatch.event("archival.unit.failed", {"prefect.resource.id": f"archival.unit.{unit.id}",
                                                    "archival.error-class": result.error_class or ""},
                           {"unit": unit.id, "run_id": ctx.run_id, "error": result.error})
            failed.append(result)
        return failed

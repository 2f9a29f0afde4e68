"""How a run executes its work items, whoever executes them (run/dispatch.py): admitted in plan order
as their source has room and the run's quota allows, in batches of consecutive items of one source
(one task and one global slot for many small units), collected as each batch ends. This process
decides, so the limits hold whichever runner executes them; a source that keeps failing is paused
and a target that cannot be written stops what has not started.

Each item retries transient failures where it runs (3 retries after 2, 4 and 8 s, each within
+-50%, so units failing together do not retry together); systemic ones fail at once. A batch stops
at its first failed item and hands the rest back, so the breaker and the run's stop decide about
them as about any waiting item."""

from __future__ import annotations

import os
import queue
import random
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archival.plan.units import UnitResult
from archival.run.breaker import SourceBreaker, target_trouble
from archival.run.context import RunContext
from archival.run.errors import classify, failed_result
from archival.run.gate import Quota, in_quiet_hours
from archival.run.interrupt import STOP, Interrupted
from archival.run.limits import Admission, global_slot
from archival.run.progress import RunProgress
from archival.run.work import ItemFailed, WorkItem, run_item

if TYPE_CHECKING:
    import logging

    from archival.run.dispatch import Dispatch

RETRIES = 3  # after the first attempt; transient failures only (run/errors.py)
BACKOFF_SECONDS = 2.0
JITTER = 0.5
_JITTER = random.Random()  # its own generator: the global one stays untouched (seeded tests, hypothesis)


@dataclass
class BatchOutcome:
    results: list[UnitResult] = field(default_factory=list)
    unrun: list[WorkItem] = field(default_factory=list)  # not started: the flow decides about them again


def retry_delay(retry: int, rng: random.Random | None = None) -> float:
    """Seconds before retry `retry` (1-based): exponential back-off from 2 s, jitter +-50%."""
    base = BACKOFF_SECONDS * 2 ** (retry - 1)
    return (rng or _JITTER).uniform(base * (1 - JITTER), base * (1 + JITTER))


def cause(exc: BaseException) -> BaseException:
    """The unit's own error (a shared transaction's item wraps it)."""
    return exc.cause if isinstance(exc, ItemFailed) else exc


def run_batch(ctx: RunContext, batch: list[WorkItem], logger: logging.Logger | logging.LoggerAdapter
              ) -> BatchOutcome:
    """Items of one source one after another, holding one slot of its global limit (other flow runs
    reading this source count too). Runs wherever the dispatch puts it: `ctx` may arrive pickled."""
    outcome = BatchOutcome()
    with global_slot(batch[0].source, ctx.global_limits):
        for n, item in enumerate(batch):
            if STOP.requested:
                outcome.unrun = batch[n:]
                break
            collected = run_with_retries(ctx, item, logger)
            outcome.results += collected
            if any(r.outcome == "failed" for r in collected):
                outcome.unrun = batch[n + 1:]
                break
    return outcome


def run_with_retries(ctx: RunContext, item: WorkItem, logger: logging.Logger | logging.LoggerAdapter
                     ) -> list[UnitResult]:
    """The item's results; a failure that retries did not cure is its units' failed results."""
    started, attempt = time.perf_counter(), 0
    while True:
        attempt += 1
        try:
            return export_item(ctx, item, logger, attempt)
        except Exception as exc:  # noqa: BLE001 - recorded as the units' failure, never dropped
            error = cause(exc)
            final = isinstance(error, Interrupted) or attempt > RETRIES or classify(error) != "transient"
            if not final and not STOP.requested:
                delay = retry_delay(attempt)
                logger.warning("%s: attempt %d failed (%s: %s); retrying in %.1f s", item.id, attempt,
                               type(error).__name__, error, delay)
                if not STOP.wait(delay):  # a stop while waiting: the failure stands
                    continue
            return failure_results(item, exc, started, attempt)


def export_item(ctx: RunContext, item: WorkItem, logger: logging.Logger | logging.LoggerAdapter,
                attempt: int) -> list[UnitResult]:
    """One attempt at one item."""
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


def failure_results(item: WorkItem, exc: BaseException, started: float, attempts: int) -> list[UnitResult]:
    """What a failed item's units report: the ones a shared transaction finished keep their result;
    a stop on purpose defers them (they published nothing: due next run)."""
    done = {r.unit_id: r for r in exc.results} if isinstance(exc, ItemFailed) else {}
    error = cause(exc)
    seconds = time.perf_counter() - started
    if isinstance(error, Interrupted):
        return [done.get(u.id) or UnitResult(u.id, "deferred", seconds=seconds, error=str(error))
                for u in item.units]
    failed = []
    for unit in item.units:
        if unit.id in done:
            failed.append(done[unit.id])
            continue
        result = failed_result(unit, error, seconds, classify(error))
        result.details["attempts"] = attempts
        failed.append(result)
    return failed


def run_items(ctx: RunContext, items: list[WorkItem], quota: Quota, progress: RunProgress,
              dispatch: Dispatch) -> list[UnitResult]:
    admission = Admission(ctx.project, items)
    breaker = SourceBreaker(ctx.project.limits.pause_source_after)
    ended: queue.Queue = queue.Queue()
    in_flight: dict[int, tuple[list[WorkItem], float, Any]] = {}
    results: dict[str, UnitResult] = {}
    logger = dispatch.logger
    # a quota is checked between batches: with one, every batch is one item so it holds exactly
    batch_size = None if quota.limited else dispatch.batch_size

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
        for batch in admission.admit(batch_size):
            submitted += 1
            future = dispatch.submit(ctx, batch)
            in_flight[submitted] = (batch, time.perf_counter(), future)
            for item in batch:
                progress.started(item.units[0])
            future.add_done_callback(lambda _f, key=submitted: ended.put(key))
        if not in_flight:
            break
        batch, started, future = in_flight.pop(ended.get())
        outcome = _collect(batch, started, future)
        admission.finished(batch[0].source, outcome.unrun)
        for result in outcome.results:
            quota.add(result.rows, result.bytes)
            results[result.unit_id] = result
            progress.finished(result)
            if result.outcome == "failed":  # an event Prefect automations can alert on (scrubbed of secrets)
                dispatch.event("archival.unit.failed", {"prefect.resource.id": f"archival.unit.{result.unit_id}",
                                                        "archival.error-class": result.error_class or ""},
                               {"unit": result.unit_id, "run_id": ctx.run_id, "error": result.error})
        if breaker.record(batch[0].source, outcome.results, started):
            defer(admission.withdraw(batch[0].source), breaker.open[batch[0].source])
        blocked = target_trouble(outcome.results)
        if blocked:
            defer(admission.withdraw_all(), blocked)
    return [results[u.id] for item in items for u in item.units]


def _collect(batch: list[WorkItem], started: float, future: Any) -> BatchOutcome:
    """The batch's outcome; a batch that could not run at all (a worker process that died, a slot
    that could not be taken) fails each of its items."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - one batch's failure must not hide the others
        return BatchOutcome([r for item in batch for r in failure_results(item, exc, started, 1)])

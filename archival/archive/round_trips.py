"""The archive's shared pool for requests that each wait for a round trip (a GET, a LIST, a create
on S3; a fsync on a local target): the plan's period manifests, a run's table locks, a commit's
listings, a unit's lineage START. One pool per process, so the plan's table readers (plan/build.py)
and the units' lanes cannot multiply it."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# A daily table of three years is 1,000 manifest GETs a plan: 16 at once took 391 of them from 11 to
# 2 s through a 10 ms link (docs/performance.md, "Long histories").
READERS = 16
_POOL = ThreadPoolExecutor(READERS, thread_name_prefix="archive-requests")
_ON_POOL = threading.local()  # set on the pool's threads: what they ask at once runs there, not behind them


def _fresh_pool() -> None:
    """A forked child has none of its parent's threads, but the parent's pool would count them as
    its own and never start new ones: its requests would wait forever."""
    global _POOL
    _POOL = ThreadPoolExecutor(READERS, thread_name_prefix="archive-requests")


os.register_at_fork(after_in_child=_fresh_pool)


def finish() -> None:
    """The command is over: waits for what was asked of the pool, then ends its threads. Idle, they
    are still threads the interpreter joins at exit, so the command could not take its quick exit
    (cli/exit.py) and paid the interpreter's teardown: 0.7 s after a direct run, 1.2 s after a flow
    on a slow hour. Nothing may be asked of the pool afterwards."""
    _POOL.shutdown(wait=True)


def _marked(call: Callable[..., R], *args: Any) -> R:
    _ON_POOL.active = True
    return call(*args)


def submit(call: Callable[..., R], *args: Any) -> Future[R]:
    """`call(*args)` on the pool."""
    return _POOL.submit(_marked, call, *args)


def at_once(call: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """`call` of each item, results in order, on the pool when there are several (one item, or a call
    from the pool's own threads, runs on this thread). Every call has ended when this returns or
    raises (the first error in order), so a caller that undoes on error undoes all."""
    items = list(items)
    if len(items) < 2 or getattr(_ON_POOL, "active", False):  # on the pool: it could wait for itself
        return [call(item) for item in items]
    futures = [submit(call, item) for item in items]
    wait(futures)
    return [future.result() for future in futures]

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
_ON_POOL = threading.local()  # set on the pool's threads: what they ask at once runs there, not behind them
_THREADS: set[threading.Thread] = set()  # the pool's, as they start
_THREADS_LOCK = threading.Lock()  # a thread starting while the exit copies the set


def _started() -> None:
    with _THREADS_LOCK:
        _THREADS.add(threading.current_thread())


def _new_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(READERS, thread_name_prefix="archive-requests", initializer=_started)


_POOL = _new_pool()


def _fresh_pool() -> None:
    """A forked child has none of its parent's threads, but the parent's pool would count them as
    its own and never start new ones: its requests would wait forever."""
    global _POOL, _THREADS_LOCK
    _THREADS_LOCK = threading.Lock()  # the parent's may have been held by a thread the child lacks
    _THREADS.clear()
    _POOL = _new_pool()


os.register_at_fork(after_in_child=_fresh_pool)


def threads() -> set[threading.Thread]:
    """The pool's threads. Idle, they are still threads the interpreter joins at exit: counted as
    work, they kept every command from its quick exit (cli/exit.py), which then paid the
    interpreter's teardown, 0.7 s after a direct run and 1.2 s after a flow on a slow hour."""
    with _THREADS_LOCK:
        return set(_THREADS)


def finish() -> None:
    """The command is over and nothing else works: waits for what was asked of the pool, then ends
    its threads. Nothing may be asked of the pool afterwards."""
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

"""Where a unit's time goes: seconds per stage of its stage list (plan/stages.py: snapshot, read,
versions, departures, contract, pii, fingerprint, parts, record). Reported in each unit's result, the
metrics file and by bench/, so a slow table shows whether its source, its contract or its PII rules
are the cost. Stages appear in the order they first ran: the executor's own record of its list.
`parts` (Parquet encoding) and a v2 `fingerprint` work on threads of their own, so their entries are
the hand-off and the wait for them, not their CPU time. A big unit runs its stream's tail (pii,
replace, fingerprint, parts: run/tail.py) on a second thread, whose entries overlap the reader's:
then the entries add up to more than the unit's wall time, and the longer of the two halves is the
unit's pace: `handoff` is the reader's wait for the tail (its queue full, its remainder at the end),
so a large `handoff` says the tail is the slower half. The two halves time different stages, so no
entry is written by both threads."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


class StageClock:
    def __init__(self, now: Callable[[], float] = time.perf_counter) -> None:
        self.now = now
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.seconds.setdefault(name, 0.0)
        started = self.now()
        try:
            yield
        finally:
            self.seconds[name] += self.now() - started

    def timed(self, name: str, items: Iterable[T]) -> Iterator[T]:
        """`items`, with the time spent waiting for each one counted to `name`."""
        self.seconds.setdefault(name, 0.0)
        iterator = iter(items)
        while True:
            started = self.now()
            try:
                item = next(iterator)
            except StopIteration:
                self.seconds[name] += self.now() - started
                return
            self.seconds[name] += self.now() - started
            yield item

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 6) for k, v in self.seconds.items()}

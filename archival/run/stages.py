"""Where a unit's time goes: seconds per stage of the export loop (read, contract, pii, fingerprint,
write, publish). Reported in the metrics file and by bench/, so a slow table shows whether its source,
its contract or its PII rules are the cost."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Literal, TypeVar

Stage = Literal["read", "contract", "pii", "fingerprint", "write", "publish"]
STAGES: tuple[Stage, ...] = ("read", "contract", "pii", "fingerprint", "write", "publish")
T = TypeVar("T")


class StageClock:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    @contextmanager
    def stage(self, name: Stage) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started

    def timed(self, name: Stage, items: Iterable[T]) -> Iterator[T]:
        """`items`, with the time spent waiting for each one counted to `name`."""
        iterator = iter(items)
        while True:
            started = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                self.seconds[name] += time.perf_counter() - started
                return
            self.seconds[name] += time.perf_counter() - started
            yield item

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 6) for k, v in self.seconds.items()}

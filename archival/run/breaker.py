"""A circuit breaker per source, and one for the archive. During an outage every admitted unit would
spend its retries (about 15 s each) and fail on its own; instead, once `limits.pause_source_after`
work items of one source have failed in a row on a connection, authentication or other transient
error (after their retries), the source's remaining units are deferred to the next run with one
message. A success in between closes the breaker again; data errors (a contract, a drift policy)
never open it. An archive that cannot take writes (a full disk, a read-only mount) defers every unit
not started yet at once."""

from __future__ import annotations

import time
from collections import Counter

from archival.plan.units import UnitResult

_UNREACHABLE = ("could not connect", "connection refused", "unable to connect", "authentication failed",
                "access denied", "could not translate host name", "name or service not known", "no route to host",
                "can't connect", "unknown mysql server host", "connection timed out", "server closed the connection")


TARGET_TROUBLE = ("ArchiveUnavailable:", "DiskFull:")  # the archive cannot take writes: no unit can finish


def target_trouble(results: list[UnitResult]) -> str | None:
    """Why the archive cannot take the run's other units (a full disk, a read-only mount, no bucket)."""
    for result in results:
        if result.outcome == "failed" and (result.error or "").startswith(TARGET_TROUBLE):
            why = " ".join(result.error.split(": ", 1)[1].split())[:300]
            return f"the archive cannot be written ({why}); deferred to the next run"
    return None


def source_trouble(result: UnitResult) -> bool:
    """A failure that says the source (or the way to it) is down, not that one table's data is bad."""
    if result.outcome != "failed":
        return False
    text = (result.error or "").lower()
    return result.error_class == "transient" or any(word in text for word in _UNREACHABLE)


class SourceBreaker:
    def __init__(self, threshold: int):
        self.threshold = threshold
        self.failures: Counter[str] = Counter()
        self.last: dict[str, str] = {}
        self.open: dict[str, str] = {}  # source -> why its remaining units are deferred
        self.counted_at: dict[str, float] = {}  # source -> when its last failure was counted

    def record(self, source: str, results: list[UnitResult], started: float | None = None) -> bool:
        """Count a batch's results in the order they ran; True when this opens the breaker of `source`.
        A success resets the count (the source answered), unless its batch started (`started`,
        time.perf_counter()) before a failure already counted: lanes finish out of order, and a
        batch collected late may hold a success from before another lane's failure."""
        opened = False
        counted = False
        for result in results:
            if result.outcome in ("written", "unchanged"):
                if counted or started is None or started >= self.counted_at.get(source, float("-inf")):
                    self.failures[source] = 0
                continue
            if not source_trouble(result):
                continue
            counted = True
            self.counted_at[source] = time.perf_counter()
            self.failures[source] += 1
            self.last[source] = " ".join((result.error or "").split())  # one line
            if self.failures[source] >= self.threshold and source not in self.open:
                self.open[source] = (f"source '{source}' failed {self.failures[source]} times in a row "
                                     f"(last: {self.last[source][:200]}); deferred to the next run")
                opened = True
        return opened

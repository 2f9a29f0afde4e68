"""The run's console lines from Prefect: a warning a run repeats (the same text for many units, once
numbers are set aside) is printed once, and at the end one line says how often it came again; a
traceback Prefect adds to a failed task's line is cut to its last line (the error) unless `--debug`.
The Prefect API keeps every line as it was."""

from __future__ import annotations

import logging
import re
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from archival.run.console import console_handlers

TRACEBACK = "Traceback (most recent call last):"


def without_traceback(text: str) -> str:
    """`text` with an embedded traceback replaced by the error it ends in."""
    head, _, trace = text.partition(TRACEBACK)
    last = [line for line in trace.strip().splitlines() if line.strip()][-1:] if trace else []
    return (head.rstrip() + (" " + last[0].strip() if last else "")).strip()


class RepeatedWarnings(logging.Filter):
    def __init__(self, debug: bool = False) -> None:
        super().__init__()
        self.debug = debug
        self.seen: Counter[str] = Counter()
        self.first: dict[str, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        decided = getattr(record, "_archival_shown", None)
        if decided is not None:  # one record reaches several handlers: count it once
            return decided
        record._archival_shown = shown = self._first_time(record)  # type: ignore[attr-defined]
        return shown

    def _first_time(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        if not self.debug and (record.exc_info or TRACEBACK in record.getMessage()):
            record.msg, record.args = without_traceback(record.getMessage()), ()
            record.exc_info = record.exc_text = None  # type: ignore[assignment]
        text = record.getMessage()
        key = re.sub(r"\d+", "#", text)
        self.seen[key] += 1
        if self.seen[key] > 1:
            return False
        self.first[key] = text.splitlines()[0] if text else ""
        return True

    def summary(self) -> list[str]:
        return [f"(the warning \"{self.first[key][:160]}\" came {count - 1} more time(s))"
                for key, count in self.seen.items() if count > 1]


@contextmanager
def once_per_warning(stream: TextIO | None = None, debug: bool = False) -> Iterator[RepeatedWarnings]:
    """While the block runs, the run's console prints each warning once, without tracebacks."""
    repeated = RepeatedWarnings(debug)
    handlers = console_handlers()
    for handler in handlers:
        handler.addFilter(repeated)
    try:
        yield repeated
    finally:
        for handler in handlers:
            handler.removeFilter(repeated)
        for line in repeated.summary():
            print(line, file=stream or sys.stderr)

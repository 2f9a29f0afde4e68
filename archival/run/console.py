"""The console lines of a run: Prefect's console handler inside a flow, `ConsoleLines` for a direct
run (run/direct.py). Both print through a rich Console, so a live progress bar can take them above
itself (run/progress.py) and repeated warnings can be folded (run/repeats.py)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console

CONSOLE_HANDLERS = ("PrefectConsoleHandler", "ConsoleLines")


class ConsoleLines(logging.Handler):
    """`HH:MM:SS.mmm | LEVEL   | message` on stderr, as Prefect prints a flow's lines (never wrapped:
    a line is grepped and pasted)."""

    def __init__(self, level: int = logging.INFO, stream: TextIO | None = None) -> None:
        super().__init__(level)
        self.console = Console(file=stream or sys.stderr, highlight=False, soft_wrap=True)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stamp = time.strftime("%H:%M:%S", time.localtime(record.created)) + f".{int(record.msecs):03d}"
            self.console.print(f"{stamp} | {record.levelname:<7} | {record.getMessage()}", markup=False)
        except Exception:  # noqa: BLE001 - logging's own contract: a broken console never fails the run
            self.handleError(record)


def console_handlers() -> list[logging.Handler]:
    """The handlers that print a run's lines on the console, wherever they are attached."""
    return [h for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
            for h in getattr(logger, "handlers", ()) if type(h).__name__ in CONSOLE_HANDLERS]


@contextmanager
def console_lines(name: str = "archival.run") -> Iterator[logging.Logger]:
    """The logger of a direct run, printing on stderr while the block runs (not through the root
    logger, where Prefect, once imported, prints too)."""
    logger = logging.getLogger(name)
    handler = ConsoleLines()
    prior = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        logger.level, logger.propagate = prior

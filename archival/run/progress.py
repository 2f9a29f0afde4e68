"""How far a run is: a rich progress bar when a person watches a terminal, plain log lines otherwise
(Prefect workers, CI, `| tee`), where a redrawn bar would only leave escape codes behind."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from archival.plan.units import ExportUnit, UnitResult
from archival.run.console import console_handlers


class RunProgress:
    """Told when units start and finish, by the flow process that admits them."""

    def __init__(self, total: int, logger: logging.Logger | logging.LoggerAdapter, stream: TextIO | None = None,
                 live: bool | None = None, verbose: bool = False):
        """`verbose`: under a live bar, Prefect's INFO lines too (else only its warnings), printed above it."""
        self.total, self.logger, self.verbose = total, logger, verbose
        self._handlers: list[tuple[logging.Handler, object, int]] = []
        self.done = self.rows = 0
        self.running: list[str] = []
        self.started_at = time.perf_counter()
        stream = stream or sys.stderr
        self.live = stream.isatty() if live is None else live
        self._bar: Progress | None = None
        if self.live and total:
            self._bar = Progress(TextColumn("[bold]archival run"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("units  {task.fields[rows]:>12,} rows"), TimeElapsedColumn(),
                                 TimeRemainingColumn(), TextColumn("{task.fields[now]}"),
                                 console=Console(file=stream, force_terminal=True), transient=False)
            self._task = self._bar.add_task("units", total=total, rows=0, now="")

    def __enter__(self) -> RunProgress:
        if self._bar:
            self._bar.start()
            self._route_prefect_lines()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar:
            for handler, console, level in self._handlers:
                handler.console, handler.level = console, level  # type: ignore[attr-defined]
            self._bar.stop()

    def _route_prefect_lines(self) -> None:
        """Prefect's console lines print above the bar (through its console) instead of cutting through
        it; per-task INFO lines only with `verbose` (they stay in the Prefect API either way)."""
        for handler in console_handlers():
            if self._bar is not None:
                self._handlers.append((handler, handler.console, handler.level))  # type: ignore[attr-defined]
                handler.console = self._bar.console  # type: ignore[attr-defined]
                handler.setLevel(max(handler.level, logging.INFO if self.verbose else logging.WARNING))

    def started(self, unit: ExportUnit) -> None:
        self.running.append(unit.id)
        self._refresh()

    def finished(self, result: UnitResult) -> None:
        if result.unit_id in self.running:
            self.running.remove(result.unit_id)
        self.done += 1
        self.rows += result.rows
        if self._bar:
            self._refresh()
            return
        elapsed = time.perf_counter() - self.started_at
        left = elapsed / self.done * (self.total - self.done)
        self.logger.info("[%d/%d] %s: %s, %d rows (%d rows so far, %.0fs elapsed, about %.0fs left)", self.done,
                         self.total, result.unit_id, result.outcome, result.rows, self.rows, elapsed, left)

    def skipped(self, count: int) -> None:
        """Units that finish without running (deferred before they started)."""
        self.done += count
        self._refresh()

    def _refresh(self) -> None:
        if self._bar:
            more = f" +{len(self.running) - 1}" if len(self.running) > 1 else ""
            now = self.running[0] + more if self.running else ""
            self._bar.update(self._task, completed=self.done, rows=self.rows, now=now)

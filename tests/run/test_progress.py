"""A live bar for a person at a terminal; plain, countable log lines for everything else."""

from __future__ import annotations

import io
import logging

import pytest

from archival.plan.units import ExportUnit, UnitResult
from archival.run.console import ConsoleLines
from archival.run.progress import RunProgress

UNITS = [ExportUnit(domain="shop", table="orders", period=f"2026-0{m}", mode="window", source="app", spec_sha256="",
                    status="new", reason="first export") for m in (1, 2, 3)]


def _drive(progress: RunProgress) -> None:
    with progress:
        for unit in UNITS[:2]:
            progress.started(unit)
        progress.finished(UnitResult(UNITS[0].id, "written", rows=1200))
        progress.finished(UnitResult(UNITS[1].id, "written", rows=34))
        progress.skipped(1)  # the third was deferred by the quota before it started


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal(caplog):
    stream = io.StringIO()
    logger = logging.getLogger("test.progress")
    with caplog.at_level(logging.INFO, logger="test.progress"):
        _drive(RunProgress(3, logger, stream=stream))
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("[1/3] shop.orders/2026-01: written, 1200 rows (1200 rows so far")
    assert lines[1].startswith("[2/3] shop.orders/2026-02: written, 34 rows (1234 rows so far")
    assert stream.getvalue() == ""  # no escape codes in a log file


def test_live_bar_in_a_terminal(caplog):
    stream = _Tty()
    with caplog.at_level(logging.INFO):
        _drive(RunProgress(3, logging.getLogger("test.progress"), stream=stream))
    out = stream.getvalue()
    assert "archival run" in out and "3/3" in out and "1,234 rows" in out
    assert not caplog.records  # the bar replaces the per-unit lines


def test_no_progress_forces_plain_lines_even_in_a_terminal(caplog):
    stream = _Tty()
    with caplog.at_level(logging.INFO, logger="test.progress"):
        _drive(RunProgress(3, logging.getLogger("test.progress"), stream=stream, live=False))
    assert stream.getvalue() == "" and len(caplog.records) == 2


def _prefect_console(stream):
    from prefect.logging.handlers import PrefectConsoleHandler

    return PrefectConsoleHandler(stream=stream)


@pytest.mark.parametrize("console_handler", [_prefect_console, lambda stream: ConsoleLines(stream=stream)],
                         ids=["prefect-flow", "direct-run"])
def test_prefect_lines_print_above_the_bar_and_task_info_only_when_verbose(console_handler):
    own = io.StringIO()
    handler = console_handler(own)
    level = handler.level
    logger = logging.getLogger("prefect.test_progress_lines")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        for verbose in (False, True):
            stream = _Tty()
            with RunProgress(3, logging.getLogger("test.progress"), stream=stream, verbose=verbose):
                logger.info("task lines here")
                logger.warning("shop.orders/2026-01: slow source")
            out = stream.getvalue()
            assert "slow source" in out and ("task lines here" in out) == verbose
        assert own.getvalue() == ""  # nothing cut through the bar on the handler's own stream
        assert handler.console.file is own and handler.level == level  # restored afterwards
    finally:
        logger.removeHandler(handler)

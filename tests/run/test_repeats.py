"""Prefect's console lines in a CLI run: each warning once with a count at the end, no tracebacks."""

from __future__ import annotations

import io
import logging

import pytest

from archival.run.console import ConsoleLines
from archival.run.repeats import RepeatedWarnings, once_per_warning, without_traceback


def _record(message: str, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord("prefect.task_runs", level, __file__, 1, message, (), None)


def test_a_repeated_warning_passes_once_and_is_counted():
    seen = RepeatedWarnings()
    passed = [seen.filter(_record(f"d.t/2026-{m:02d}: 3 row(s) set aside")) for m in range(1, 5)]
    assert passed == [True, False, False, False]
    assert seen.filter(_record("d.other/2026-01: 3 row(s) set aside"))  # another table: another warning
    assert seen.filter(_record("d.t/2026-05: written", logging.INFO))  # info lines are not counted
    assert seen.summary() == ['(the warning "d.t/2026-01: 3 row(s) set aside" came 3 more time(s))']


def test_a_traceback_in_a_failed_task_line_is_cut_to_its_error():
    text = ("Task run 'a.b/2026-01' - Task run failed with exception: X - Retries are exhausted\n"
            "Traceback (most recent call last):\n  File \"x.py\", line 1, in f\n    g()\n"
            "duckdb.IOException: IO Error: connection refused\n")
    assert without_traceback(text) == ("Task run 'a.b/2026-01' - Task run failed with exception: X - Retries are "
                                       "exhausted duckdb.IOException: IO Error: connection refused")
    record = _record(text, logging.ERROR)
    assert RepeatedWarnings().filter(record) and "Traceback" not in record.getMessage()
    kept = _record(text, logging.ERROR)
    assert RepeatedWarnings(debug=True).filter(kept) and "Traceback" in kept.getMessage()


def _prefect_console(stream):
    from prefect.logging.handlers import PrefectConsoleHandler

    return PrefectConsoleHandler(stream=stream)


@pytest.mark.parametrize("console_handler", [_prefect_console, lambda stream: ConsoleLines(stream=stream)],
                         ids=["prefect-flow", "direct-run"])
def test_the_count_is_printed_when_the_run_ends(console_handler):
    out, console = io.StringIO(), io.StringIO()
    handler = console_handler(console)
    logger = logging.getLogger("archival.test.repeats")
    logger.addHandler(handler)
    try:
        with once_per_warning(out):
            for _ in range(3):
                logger.warning("source 'pg' is slow")
    finally:
        logger.removeHandler(handler)
    assert console.getvalue().count("source 'pg' is slow") == 1
    assert out.getvalue() == "(the warning \"source 'pg' is slow\" came 2 more time(s))\n"

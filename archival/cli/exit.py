"""How the `archival` command ends its process. After the command has returned, everything it wrote
is closed and flushed, so the interpreter's teardown (collecting every module and object of Prefect,
polars, DuckDB and pyarrow) only costs time: 0.3 s after a plain command, 0.6 s after a flow run
(docs/performance.md). The command therefore runs the atexit handlers (Prefect drains its queued
logs and events to the API there, `logging` flushes its handlers), flushes stdout and stderr, and
leaves with os._exit.

It does so only when no other non-daemon thread is alive: one that is still working ends as the
interpreter would end it (joined), so the shortcut can never cut work short."""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Callable
from typing import NoReturn

from archival.archive import round_trips

OK, FAILED, USAGE = 0, 1, 2  # the exit statuses: done, the job or the data failed, bad usage or bad spec
CLOSED_PIPE = 120  # our output's reader went away: the status CPython gives when it cannot flush at exit


def others_working() -> list[threading.Thread]:
    """Non-daemon threads besides this one: the interpreter would wait for them before exiting."""
    me = threading.current_thread()
    return [t for t in threading.enumerate() if t is not me and not t.daemon and t.is_alive()]


def end_process(command: Callable[[], int]) -> NoReturn:
    code = command()
    round_trips.finish()  # its idle threads would count as working
    if others_working() or threading.current_thread() is not threading.main_thread():
        sys.exit(code)
    atexit._run_exitfuncs()  # noqa: SLF001 - the documented handlers, run once, as at a normal exit
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`archival ... | head`): status 120, as CPython gives
            code = code or CLOSED_PIPE
    os._exit(code)

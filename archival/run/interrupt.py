"""Stopping a run on purpose: the first SIGINT (Ctrl-C in a terminal signals the whole process group)
or SIGTERM (a container stop) asks the run to stop. No unit is admitted after it; running units
abort at their next batch, or now if a DuckDB query is running (it is interrupted), and publish
nothing; the run writes its record (what did not run is `deferred`, due next time) and the CLI
exits 130 (143 for SIGTERM). A second signal leaves at once."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO


class Interrupted(Exception):
    """A unit stopped because the run was asked to stop (it published nothing)."""


class RunStop:
    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._hooks: dict[int, Callable[[], None]] = {}
        self.signal: int | None = None

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    @property
    def reason(self) -> str:
        name = signal.Signals(self.signal).name if self.signal else "a request"
        return f"interrupted: the run was asked to stop ({name})"

    def request(self, signum: int | None = None) -> None:
        self.signal = signum
        self._event.set()
        with self._lock:
            hooks = list(self._hooks.values())
        for hook in hooks:
            hook()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True as soon as a stop is requested."""
        return self._event.wait(seconds)

    def check(self) -> None:
        if self._event.is_set():
            raise Interrupted(self.reason)

    @contextmanager
    def while_running(self, hook: Callable[[], None]) -> Iterator[None]:
        """Call `hook` (interrupt a query) if a stop is asked for while the block runs."""
        key = id(hook)
        with self._lock:
            self._hooks[key] = hook
        try:
            if self.requested:
                hook()
            yield
        finally:
            with self._lock:
                self._hooks.pop(key, None)

    def reset(self) -> None:
        self._event.clear()
        self.signal = None


STOP = RunStop()  # one per process: signals reach the process, the flow's threads read it
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


@contextmanager
def stop_on_signals(stream: TextIO | None = None) -> Iterator[RunStop]:
    """While the block runs, the first SIGINT or SIGTERM asks the run to stop; the second leaves now."""
    stream = stream or sys.stderr
    previous: dict[int, object] = {}

    def handler(signum: int, frame: object) -> None:
        if STOP.requested:
            signal.signal(signum, signal.SIG_DFL if signum != signal.SIGINT else signal.default_int_handler)
            raise KeyboardInterrupt
        STOP.request(signum)
        print(f"\narchival: {signal.Signals(signum).name}: stopping: no new units; running units abort and publish "
              "nothing; the run record is written. Again to quit at once.", file=stream, flush=True)

    for sig in EXIT_CODES:
        previous[sig] = signal.signal(sig, handler)
    try:
        yield STOP
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)  # type: ignore[arg-type]
        STOP.reset()

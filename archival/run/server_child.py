"""The process of a CLI run's temporary Prefect server: uvicorn serving Prefect's API, bound to the life
of the `archival` command that started it. When the command dies, whatever kills it (Ctrl-C twice,
the OOM killer's SIGKILL), the kernel sends this process SIGTERM (Linux's parent-death signal), and a
watch on the parent's pid covers the rest; the server never outlives the run by more than a second.

    python -m archival.run.server_child PARENT_PID UVICORN_ARGS..."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the watch below ends the server
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)  # uvicorn shuts down on it
        time.sleep(5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main() -> None:
    _die_with(int(sys.argv[1]))
    import uvicorn.main

    sys.argv = ["uvicorn", *sys.argv[2:]]
    uvicorn.main.main()


if __name__ == "__main__":
    main()

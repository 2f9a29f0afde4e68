"""Fault injection for crash tests (as FoundationDB and TiKV do it): with ARCHIVAL_FAILPOINT=<name> in
the environment, the process kills itself with SIGKILL when it reaches that point, exactly as the OOM
killer or a power cut would; `<name>@<unit id>` limits it to one unit. Names: record:parts,
record:orphans, record:manifest, record:audit, run:record. Unset (always, outside tests), a failpoint
costs one dictionary lookup."""

from __future__ import annotations

import os
import signal

ENV = "ARCHIVAL_FAILPOINT"


def failpoint(name: str, unit: str = "") -> None:
    wanted = os.environ.get(ENV)
    if wanted and wanted in (name, f"{name}@{unit}"):
        os.kill(os.getpid(), signal.SIGKILL)

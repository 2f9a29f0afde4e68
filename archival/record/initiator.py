"""Who started what archival does, for the audit trail: the OS user and host, the Prefect deployment
and flow run when there is one, and the specs' git commit when the project is a git checkout."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any


def _prefect() -> dict[str, str]:
    found = {}
    if "prefect" not in sys.modules:  # a flow run has imported it; a direct run pays nothing for asking
        return {"flow_run": os.environ["PREFECT__FLOW_RUN_ID"]} if os.environ.get("PREFECT__FLOW_RUN_ID") else {}
    try:
        from prefect.context import FlowRunContext
        from prefect.runtime import deployment, flow_run

        run = FlowRunContext.get()
        if run is not None and run.flow_run is not None:
            # the run at hand: prefect.runtime asks the API for the flow run to learn it has no deployment
            found["flow_run"] = str(run.flow_run.id)
            named = run.flow_run.deployment_id is not None or DEPLOYMENT_OVERRIDE in os.environ
        else:
            if flow_run.id:
                found["flow_run"] = str(flow_run.id)
            named = True
        if named and deployment.name:
            found["deployment"] = str(deployment.name)
    except ImportError:  # Prefect is a dependency; a broken install must not stop the audit entry
        pass
    if "flow_run" not in found and os.environ.get("PREFECT__FLOW_RUN_ID"):
        found["flow_run"] = os.environ["PREFECT__FLOW_RUN_ID"]
    return found


DEPLOYMENT_OVERRIDE = "PREFECT__RUNTIME__DEPLOYMENT__NAME"  # prefect.runtime's documented override


def git_commit(root: Path) -> str | None:
    """The project's HEAD commit (and `+dirty` when the specs have uncommitted changes), if a git checkout."""
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "specs", "archival.yaml"],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None  # no git on this machine: the entry says nothing of the commit
    return head + ("+dirty" if dirty else "")


def who(root: Path | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"user": os.environ.get("USER") or getpass.getuser(), "host": socket.gethostname()}
    found |= _prefect()
    commit = git_commit(root) if root is not None else None
    if commit:
        found["specs_commit"] = commit
    return found

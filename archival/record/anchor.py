"""The audit chain's head kept outside the archive, so that deleting the newest entries, or the whole
`_audit/`, is found: after each command that appends to the chain, its length and the sha256 of its
last entry go to `<project>/.archival/audit-anchor-<archive>.json` and, when a Prefect API is
configured, to the Prefect Variable `archival-audit-<project>-<archive>` (`<archive>`: a digest of
where the archive is). `archival audit --verify` compares the chain with both."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archival.archive.audit_log import anchor_file, archive_id, head
from archival.archive.store import ArchiveStore


def variable_name(project: str, store: ArchiveStore) -> str:
    return re.sub(r"[^a-z0-9_-]", "-", f"archival-audit-{project}-{archive_id(store)}".lower())


def record_head(store: ArchiveStore, root: Path, project: str) -> dict[str, Any]:
    sequence, sha = head(store)
    anchor = {"sequence": sequence, "sha256": sha, "archive": store.describe(),
              "at": datetime.now(UTC).isoformat(timespec="seconds")}
    path = anchor_file(root, store)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(anchor, indent=2) + "\n")
    tmp.replace(path)
    if os.environ.get("PREFECT_API_URL"):
        _set_variable(variable_name(project, store), anchor)
    return anchor


def _set_variable(name: str, value: dict[str, Any]) -> None:
    """One request once the variable exists (an update by name); Prefect's `Variable.set` reads it
    before and after (three requests at the end of every flow run, 0.66 s on a slow day)."""
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import VariableCreate, VariableUpdate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        try:
            client.update_variable(VariableUpdate(name=name, value=value))
            return
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 404:
                raise
        try:
            client.create_variable(VariableCreate(name=name, value=value))
        except ObjectAlreadyExists:  # another command created it in between
            client.update_variable(VariableUpdate(name=name, value=value))


def anchors(root: Path, project: str, store: ArchiveStore) -> dict[str, dict[str, Any]]:
    """Where the head was anchored -> the anchor found there; an anchor file that is not one (damaged,
    edited) maps to {"unreadable": why}, which `audit --verify` reports naming the file."""
    found: dict[str, dict[str, Any]] = {}
    path = anchor_file(root, store)
    if path.exists():
        try:
            value = json.loads(path.read_text())
            problem = None if isinstance(value, dict) and isinstance(value.get("sequence"), int) else \
                "not an anchor (a JSON object with an integer `sequence`)"
        except ValueError as exc:
            problem = f"not JSON ({exc})"
        found[str(path)] = {"unreadable": problem} if problem else value
    if os.environ.get("PREFECT_API_URL"):
        from prefect.variables import Variable

        value = Variable.get(variable_name(project, store), default=None)
        if isinstance(value, dict):
            found[f"Prefect Variable {variable_name(project, store)}"] = value
    return found

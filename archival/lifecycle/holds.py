"""Legal holds: a table, or one period of it, that nothing may expire while the hold stands. Holds
live in the audit chain (`hold` and `release` entries, with who, when and why), so they are as
tamper-evident as the rest and need no other state."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from datetime import UTC, datetime

from archival.archive.audit_log import read_chain
from archival.archive.store import ArchiveStore
from archival.record.audit import append


class HoldUsage(ValueError):
    """A hold that cannot be added or removed as asked (exit 2)."""


@dataclass(frozen=True)
class Hold:
    scope: str  # domain.table or domain.table/period
    reason: str
    by: str
    at: str

    def covers(self, table: str, period: str) -> bool:
        return self.scope in (table, f"{table}/{period}")


def initiator() -> str:
    """Who acts: the OS user, and the Prefect flow run when there is one."""
    user = os.environ.get("USER") or getpass.getuser()
    run = os.environ.get("PREFECT__FLOW_RUN_ID")
    return f"{user} (flow run {run})" if run else user


def holds(store: ArchiveStore) -> dict[str, Hold]:
    standing: dict[str, Hold] = {}
    for _, _, entry in read_chain(store):
        if entry.get("action") == "hold":
            standing[entry["scope"]] = Hold(entry["scope"], entry["reason"], entry["by"], entry["at"])
        elif entry.get("action") == "release":
            standing.pop(entry["scope"], None)
    return standing


def add_hold(store: ArchiveStore, scope: str, reason: str) -> Hold:
    if scope in holds(store):
        raise HoldUsage(f"{scope} is already on hold")
    hold = Hold(scope, reason, initiator(), datetime.now(UTC).isoformat())
    append(store, {"action": "hold", "scope": scope, "reason": reason, "by": hold.by, "at": hold.at})
    return hold


def release_hold(store: ArchiveStore, scope: str, reason: str) -> None:
    if scope not in holds(store):
        raise HoldUsage(f"{scope} is not on hold (`archival hold ls` lists the holds)")
    append(store, {"action": "release", "scope": scope, "reason": reason, "by": initiator(),
                   "at": datetime.now(UTC).isoformat()})

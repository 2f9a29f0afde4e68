"""`archival rebaseline`: accept, on purpose, a new identity (mode, cursor, primary key, period) for
a table whose archived periods were keyed by another one. Recorded in the audit chain; the plan then
re-exports under the new spec (new manifest versions); what was archived stays. A rebaseline with
nothing to accept is refused: it would record a decision that changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from archival.archive.audit_log import rebaselines
from archival.archive.state import archived_periods
from archival.archive.store import ArchiveStore
from archival.plan.compile import identity_changes, table_identity
from archival.record import audit
from archival.spec.model import Project, Table


class NothingToRebaseline(ValueError):
    """The archive is keyed as the spec says already (bad usage: exit 2)."""


def changes_to_accept(store: ArchiveStore, project: Project, table: Table) -> list[str]:
    """What the rebaseline would accept; NothingToRebaseline when that is nothing."""
    domain = project.domain(table.domain)
    assert domain is not None
    archived = archived_periods(store, table.domain, table.name)
    changes = identity_changes(table, archived, domain.timezone)
    if not changes or rebaselines(store).get(table.qualified_name) == table_identity(table):
        state = "nothing of it is archived yet" if not archived else \
            "its archived periods are keyed as the spec says" if not changes else "this identity was accepted already"
        raise NothingToRebaseline(f"{table.qualified_name}: nothing to rebaseline: {state}")
    return changes


def rebaseline(store: ArchiveStore, table: Table, changes: list[str], reason: str) -> str:
    return audit.append(store, {"action": "rebaseline", "table": table.qualified_name,
                                "identity": table_identity(table), "changes": changes, "reason": reason,
                                "at": datetime.now(UTC).isoformat(timespec="seconds")})

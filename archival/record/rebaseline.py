"""`archival rebaseline`: accept, on purpose, a new identity (mode, cursor, primary key, period) for
a table whose archived periods were keyed by another one. Recorded in the audit chain; the plan then
re-exports under the new spec (new manifest versions); what was archived stays."""

from __future__ import annotations

from datetime import UTC, datetime

from archival.archive.store import ArchiveStore
from archival.plan.compile import table_identity
from archival.record import audit
from archival.spec.model import Table


def rebaseline(store: ArchiveStore, table: Table, reason: str) -> str:
    return audit.append(store, {"action": "rebaseline", "table": table.qualified_name,
                                "identity": table_identity(table), "reason": reason,
                                "at": datetime.now(UTC).isoformat(timespec="seconds")})

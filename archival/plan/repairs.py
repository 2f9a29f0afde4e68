"""Periods an interrupted run left unfinished, found from the archive alone so that the next run
repairs them even where nothing else would make their unit due (a closed window period): files that
no manifest names (archive/leftovers.py), and a manifest whose audit entry was never appended. Only
manifests of runs without a run record can lack their entry (a run writes its record last)."""

from __future__ import annotations

from archival.archive.audit_log import recorded
from archival.archive.leftovers import named_by_older_versions, period_leftovers, table_objects
from archival.archive.state import ArchivedPeriod
from archival.archive.store import ArchiveStore
from archival.spec.model import Table


def repairs(store: ArchiveStore, table: Table, archived: dict[str, ArchivedPeriod],
            completed: frozenset[str]) -> dict[str, str]:
    """period -> what is left to repair there."""
    if not archived:
        return {}
    objects = table_objects(store, table.domain, table.name)
    found = {}
    for period, current in archived.items():
        left = period_leftovers(table.domain, table.name, period, objects, current.stored,
                                older=named_by_older_versions(store, table.domain, table.name, period, current.stored))
        reasons = [f"{len(left.orphans)} file(s) that no manifest names"] if left.orphans else []
        if left.temps:
            reasons.append(f"{len(left.temps)} temp file(s) of interrupted writes")
        if current.manifest.run_id not in completed and not recorded(store, current.stored):
            reasons.append(f"v{current.version} is missing from the audit chain")
        if reasons:
            found[period] = "repair after an interrupted run: " + ", ".join(reasons)
    return found

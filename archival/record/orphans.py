"""Files an interrupted attempt left in a period's folders (archive/leftovers.py) are taken out before
the period's next manifest is written: orphan parts move to `_orphans/<run_id>/<their path>` (glob
readers never see them again, nothing is lost, an audit entry says what moved and why), and temp files
of writers that are no longer running are removed."""

from __future__ import annotations

from datetime import UTC, datetime

from archival.archive.leftovers import Leftovers
from archival.archive.store import ArchiveStore
from archival.record import audit


def orphan_path(run_id: str, path: str) -> str:
    return f"_orphans/{run_id}/{path}"


def set_aside(store: ArchiveStore, leftovers: Leftovers, run_id: str, unit_id: str) -> int:
    """Returns how many orphans were moved."""
    for temp in leftovers.temps:
        store.remove_dead_temp(temp.path)
    if not leftovers.orphans:
        return 0
    moved = []
    for orphan in leftovers.orphans:
        store.move(orphan.path, orphan_path(run_id, orphan.path))
        moved.append({"path": orphan.path, "moved_to": orphan_path(run_id, orphan.path), "bytes": orphan.size})
    audit.append(store, {"action": "set_aside", "run_id": run_id, "unit": unit_id, "files": moved,
                         "reason": "named by no manifest: left by an interrupted attempt",
                         "at": datetime.now(UTC).isoformat(timespec="seconds")})
    return len(moved)

"""The audit chain: `_audit/<NNNNNNNNNN>.json`, each entry holding the sha256 of the previous entry's
bytes. Appending is create-only: two writers racing for one sequence number cannot both win, the
loser re-reads the head and tries the next number. Editing, reordering or removing an entry breaks
the chain, which `verify` reports."""

from __future__ import annotations

import threading
from typing import Any

from archival.archive import layout
from archival.archive.audit_log import head, read_chain
from archival.archive.manifest import canonical_json
from archival.archive.store import ArchiveConflict, ArchiveStore

__all__ = ["append", "head", "read_chain"]

_LOCK = threading.Lock()  # one appender per process; other processes are handled by create-only names


def append(store: ArchiveStore, entry: dict[str, Any], attempts: int = 20) -> str:
    with _LOCK:
        for _ in range(attempts):
            sequence, previous = head(store)
            data = {**entry, "sequence": sequence + 1, "previous_sha256": previous}
            path = layout.audit_path(sequence + 1)
            try:
                store.put_new(path, canonical_json(data))
                return path
            except ArchiveConflict:
                continue  # another process appended first; chain onto its entry
        raise ArchiveConflict("could not append to the audit chain: too much contention")

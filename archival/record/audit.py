"""The audit chain: `_audit/<NNNNNNNNNN>.json`, each entry holding the sha256 of the previous entry's
bytes. Appending is create-only: two writers racing for one sequence number cannot both win, the
loser re-reads the head and tries the next number. Editing, reordering or removing an entry breaks
the chain, which `verify` reports."""

from __future__ import annotations

import threading
from typing import Any

from archival.archive import layout
from archival.archive.audit_log import head, read_chain, remember
from archival.archive.manifest import StoredManifest, canonical_json
from archival.archive.store import ArchiveConflict, ArchiveStore

__all__ = ["append", "append_publish", "head", "read_chain"]

_LOCK = threading.Lock()  # one appender per process; other processes are handled by create-only names


def append(store: ArchiveStore, entry: dict[str, Any], attempts: int = 20) -> str:
    with _LOCK:
        look = False  # the head this process knows: a conflict says when another process appended
        for _ in range(attempts):
            sequence, previous = head(store, look)
            data = {**entry, "sequence": sequence + 1, "previous_sha256": previous}
            path, raw = layout.audit_path(sequence + 1), canonical_json(data)
            try:
                store.put_new(path, raw)
            except ArchiveConflict:
                look = True
                continue  # another process appended first; chain onto its entry
            remember(store, sequence + 1, raw)
            return path
        raise ArchiveConflict("could not append to the audit chain: too much contention")


def append_publish(store: ArchiveStore, run_id: str, unit_id: str, stored: StoredManifest,
                   recovered: str | None = None, refresh: str | None = None) -> str:
    """The `publish` entry of a manifest version; `recovered`: why it comes late (it was not appended
    right after the manifest), `refresh`: the reason of a refresh that wrote it."""
    entry = {"action": "publish", "run_id": run_id, "unit": unit_id, "manifest": stored.path,
             "manifest_sha256": stored.sha256, "at": stored.manifest.created_at}
    if refresh:
        entry["refresh"] = refresh
    if recovered:
        entry["recovered"] = recovered
    return append(store, entry)

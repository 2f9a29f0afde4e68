"""Reading the audit chain (`_audit/<NNNNNNNNNN>.json`); appending is the record stage's job."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from archival.archive.store import ArchiveStore


def head(store: ArchiveStore) -> tuple[int, str | None]:
    entries = [p for p in store.list("_audit") if p.endswith(".json")]
    if not entries:
        return 0, None
    last = max(entries)
    return int(last.rsplit("/", 1)[1].split(".")[0]), hashlib.sha256(store.read_bytes(last)).hexdigest()


def read_chain(store: ArchiveStore) -> list[tuple[str, bytes, dict[str, Any]]]:
    out = []
    for path in sorted(p for p in store.list("_audit") if p.endswith(".json")):
        raw = store.read_bytes(path)
        out.append((path, raw, json.loads(raw)))
    return out


def rebaselines(store: ArchiveStore) -> dict[str, dict[str, Any]]:
    """The latest `rebaseline` entry per table (domain.table): the identity it accepted."""
    latest: dict[str, dict[str, Any]] = {}
    for _, _, entry in read_chain(store):
        if entry.get("action") == "rebaseline":
            latest[entry["table"]] = entry["identity"]
    return latest

"""Reading the audit chain (`_audit/<NNNNNNNNNN>.json`); appending is the record stage's job."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from archival.archive.store import ArchiveStore


class AuditChainError(Exception):
    """An audit entry that cannot be read; what depends on the chain cannot be decided."""


def head(store: ArchiveStore) -> tuple[int, str | None]:
    entries = [p for p in store.list("_audit") if p.endswith(".json")]
    if not entries:
        return 0, None
    last = max(entries)
    return int(last.rsplit("/", 1)[1].split(".")[0]), hashlib.sha256(store.read_bytes(last)).hexdigest()


def read_raw_chain(store: ArchiveStore) -> Iterator[tuple[str, bytes, Any]]:
    """(path, bytes, parsed entry or None when it is not JSON), in sequence order."""
    for path in sorted(p for p in store.list("_audit") if p.endswith(".json")):
        raw = store.read_bytes(path)
        try:
            entry = json.loads(raw)
        except ValueError:
            entry = None
        yield path, raw, entry


def read_chain(store: ArchiveStore) -> list[tuple[str, bytes, dict[str, Any]]]:
    """The entries, each a JSON object; AuditChainError names the first damaged one."""
    out = []
    for path, raw, entry in read_raw_chain(store):
        if not isinstance(entry, dict):
            raise AuditChainError(f"audit entry {path} is damaged (not a JSON object); `archival verify` reports "
                                  "the chain's state")
        out.append((path, raw, entry))
    return out


def rebaselines(store: ArchiveStore) -> dict[str, dict[str, Any]]:
    """The latest `rebaseline` entry per table (domain.table): the identity it accepted."""
    latest: dict[str, dict[str, Any]] = {}
    for _, _, entry in read_chain(store):
        if entry.get("action") == "rebaseline":
            latest[entry["table"]] = entry["identity"]
    return latest

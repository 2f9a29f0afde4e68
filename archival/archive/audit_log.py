"""Reading the audit chain (`_audit/<NNNNNNNNNN>.json`); appending is the record stage's job."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from archival.archive import layout
from archival.archive.manifest import StoredManifest
from archival.archive.store import ArchiveStore


class AuditChainError(Exception):
    """An audit entry that cannot be read; what depends on the chain cannot be decided."""


_KNOWN_LENGTH: dict[str, int] = {}  # per archive: a length the chain had, so head() need not list it again


def head(store: ArchiveStore) -> tuple[int, str | None]:
    """The chain's length and the sha256 of its last entry. The chain only grows, so a length seen
    before is a lower bound: from there a few `exists` probes find the end (another process may have
    appended), instead of listing every entry on each append."""
    known = _KNOWN_LENGTH.get(store.describe())
    if known is None:
        entries = [p for p in store.list("_audit") if p.endswith(".json")]
        known = int(max(entries).rsplit("/", 1)[1].split(".")[0]) if entries else 0
    while store.exists(layout.audit_path(known + 1)):
        known += 1
    while known and not store.exists(layout.audit_path(known)):  # the chain was cut (verify reports it)
        known -= 1
    _KNOWN_LENGTH[store.describe()] = known
    if not known:
        return 0, None
    return known, hashlib.sha256(store.read_bytes(layout.audit_path(known))).hexdigest()


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


def recorded(store: ArchiveStore, stored: StoredManifest) -> bool:
    """Whether the audit chain holds the `publish` entry of this manifest version. The entry comes
    after `audit_after` (the chain's length when the manifest was written), so only the entries since
    are read, and usually the first one is it. A manifest of an earlier release (no `audit_after`) is
    taken as recorded: `verify` checks the whole chain."""
    if stored.manifest.audit_after is None:
        return True
    sequence = stored.manifest.audit_after + 1
    while store.exists(layout.audit_path(sequence)):
        try:
            entry = json.loads(store.read_bytes(layout.audit_path(sequence)))
        except ValueError:
            entry = None  # a damaged entry is verify's to report; it records nothing here
        if isinstance(entry, dict) and entry.get("manifest") == stored.path \
                and entry.get("manifest_sha256") == stored.sha256:
            return True
        sequence += 1
    return False


def completed_runs(store: ArchiveStore) -> set[str]:
    """Runs that wrote their run record: all their manifests were recorded in the audit chain."""
    return {p.rsplit("/", 1)[1].removesuffix(".json") for p in store.list("_runs") if p.endswith(".json")}

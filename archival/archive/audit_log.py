"""Reading the audit chain (`_audit/<NNNNNNNNNN>.json`); appending is the record stage's job."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from archival.archive import layout
from archival.archive.manifest import StoredManifest
from archival.archive.store import ArchiveStore


class AuditChainError(Exception):
    """An audit entry that cannot be read; what depends on the chain cannot be decided."""


# per archive: a length the chain had, and the sha256 of that entry when this process wrote or read it
_KNOWN: dict[str, tuple[int, str | None]] = {}
_SEEN: dict[str, int] = {}  # per archive: a length the chain had when the project's last command ended


def archive_id(store: ArchiveStore) -> str:
    return hashlib.sha256(store.describe().encode()).hexdigest()[:12]


def anchor_file(root: Path, store: ArchiveStore) -> Path:
    """Where the project keeps the head its last command left (record/anchor.py writes it)."""
    return root / ".archival" / f"audit-anchor-{archive_id(store)}.json"


def seed_from_anchor(store: ArchiveStore, root: Path) -> None:
    """Seed with the length the project's last command anchored (open_store does, for every command).
    Only a hint: an anchor file that cannot be read leaves the head to be found by listing the whole
    chain (`archival audit --verify` reports such a file)."""
    try:
        sequence = json.loads(anchor_file(root, store).read_text()).get("sequence")
    except (OSError, ValueError, AttributeError):
        return
    if isinstance(sequence, int):
        seed(store, sequence)


def seed(store: ArchiveStore, length: int) -> None:
    """A length the chain had (the head anchored by the project's last command, record/anchor.py):
    the process's first look for the head lists only the entries after it. Without one it lists
    `_audit/` whole, one page per 1,000 entries on S3: an archive appended to by every run for years
    holds hundreds of thousands. When the chain is shorter than that (it was cut, or a new archive
    took the old one's place), it is listed whole."""
    if length > 0:
        _SEEN[store.describe()] = length


def head(store: ArchiveStore, look: bool = True) -> tuple[int, str | None]:
    """The chain's length and the sha256 of its last entry. The chain only grows, so a length seen
    before is a lower bound: from there a few `exists` probes find the end (another process may have
    appended), instead of listing every entry on each append. The last entry's sha256 is read only
    when this process did not write (or read) that entry itself: a unit's manifest and audit entry
    asked the store 4 times less (8 -> 4 requests, on S3 each a round trip).

    `look=False`: the entry this process wrote or read last, without a probe, when it holds one. An
    append there is create-only, so it fails if another process appended first, and the append looks
    then (record/audit.py): the probe is paid only when another process wrote."""
    known, sha = _end(store, look)
    if known and sha is None:
        sha = hashlib.sha256(store.read_bytes(layout.audit_path(known))).hexdigest()
        _KNOWN[store.describe()] = (known, sha)
    return known, sha


def length(store: ArchiveStore) -> int:
    """A length the chain has reached, no entry read: what a manifest's `audit_after` records, the point
    after which its `publish` entry comes. A lower bound is enough for that (a rerun reads the entries
    after it), so the entry this process wrote or read last answers without a probe."""
    return _end(store, look=False)[0]


def remember(store: ArchiveStore, sequence: int, data: bytes) -> None:
    """This process appended entry `sequence` with these bytes: the next head() need not read it."""
    _KNOWN[store.describe()] = (sequence, hashlib.sha256(data).hexdigest())


def _entries(store: ArchiveStore, after: int) -> list[str]:
    return [p for p in store.list("_audit", after=layout.audit_path(after) if after else None) if p.endswith(".json")]


def _end(store: ArchiveStore, look: bool = True) -> tuple[int, str | None]:
    known, sha = _KNOWN.get(store.describe(), (None, None))
    if not look and known is not None and sha is not None:
        return known, sha
    if known is None:
        seen = _SEEN.get(store.describe(), 0)
        entries = _entries(store, seen)
        if seen and not entries and not store.exists(layout.audit_path(seen)):
            seen, entries = 0, _entries(store, 0)  # shorter than anchored (cut, or a new archive there)
        known = int(max(entries).rsplit("/", 1)[1].split(".")[0]) if entries else seen
    while store.exists(layout.audit_path(known + 1)):
        known, sha = known + 1, None
    if sha is None:  # an entry this process holds needs no look; another may have been cut (verify reports it)
        while known and not store.exists(layout.audit_path(known)):
            known -= 1
    _KNOWN[store.describe()] = (known, sha)
    return known, sha


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

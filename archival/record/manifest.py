"""Manifests: what a period of a table holds. The highest version is current; a version is written
only when something differs from the current one, so a rerun over unchanged rows leaves the
manifest byte-identical (no new version at all). JSON Schema: schemas/manifest.schema.json."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from archival import __version__
from archival.archive import layout
from archival.archive.state import ArchivedPeriod
from archival.archive.store import ArchiveStore

SCHEMA_VERSION = 1
# Keys that say what the period holds; if all are equal the current version stands. The window and
# watermark are left out on purpose: an open incremental period is read up to a later bound each run,
# and unchanged rows must not produce a new version (the watermark then stays where rows last changed).
CONTENT_KEYS = ("domain", "table", "period", "mode", "source", "spec_sha256", "format", "schema", "files",
                "row_count", "fingerprint", "quarantined_rows", "pii", "timezone", "tombstones", "deleted_rows",
                "key_checksum", "quarantine", "contract")


def canonical_json(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class PublishedManifest:
    path: str
    version: int
    sha256: str
    data: dict[str, Any]
    written: bool  # False: the current version already said the same


def same_content(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in CONTENT_KEYS)


def publish_manifest(store: ArchiveStore, body: dict[str, Any], current: ArchivedPeriod | None) -> PublishedManifest:
    """Write version N+1 unless version N holds the same content. Create-only: if another writer took
    N+1 first, ArchiveConflict propagates and nothing is overwritten."""
    if current is not None:
        existing_bytes = store.read_bytes(current.path)
        existing = json.loads(existing_bytes)
        if same_content(existing, body):
            return PublishedManifest(current.path, current.version, sha256_hex(existing_bytes), existing, False)
        previous_sha, version = sha256_hex(existing_bytes), current.version + 1
    else:
        previous_sha, version = None, 1
    data = {**body, "schema_version": SCHEMA_VERSION, "tool_version": __version__, "version": version,
            "previous_manifest_sha256": previous_sha}
    raw = canonical_json(data)
    path = layout.manifest_path(body["domain"], body["table"], body["period"], version)
    store.put_new(path, raw)
    return PublishedManifest(path, version, sha256_hex(raw), data, True)

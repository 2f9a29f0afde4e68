"""Publishing a manifest: the highest version is current; a version is written only when its content
differs from the current one, so a rerun over unchanged rows leaves the manifest byte-identical (no
new version at all)."""

from __future__ import annotations

from dataclasses import dataclass

from archival.archive import layout
from archival.archive.audit_log import length
from archival.archive.manifest import Manifest, StoredManifest, sha256_hex
from archival.archive.store import ArchiveStore


@dataclass(frozen=True)
class Published:
    stored: StoredManifest
    written: bool  # False: the current version already said the same

    @property
    def path(self) -> str:
        return self.stored.path

    @property
    def version(self) -> int:
        return self.stored.manifest.version


def publish_manifest(store: ArchiveStore, draft: Manifest, current: StoredManifest | None) -> Published:
    """Write version N+1 unless version N holds the same content. Create-only: if another writer took
    N+1 first, ArchiveConflict propagates and nothing is overwritten."""
    if current is not None and current.manifest.content() == draft.content():
        return Published(current, False)
    version = current.manifest.version + 1 if current else 1
    manifest = draft.model_copy(update={"version": version, "previous_manifest_sha256": current.sha256 if current
                                        else None, "audit_after": length(store)})
    raw = manifest.to_bytes()
    path = layout.manifest_path(draft.domain, draft.table, draft.period, version)
    store.put_new(path, raw)
    return Published(StoredManifest(path, sha256_hex(raw), manifest), True)

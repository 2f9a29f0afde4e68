"""What the archive already holds, read from its manifests (no side database): per table and
period, the current (highest) manifest version, typed."""

from __future__ import annotations

from dataclasses import dataclass

from archival.archive import layout
from archival.archive.manifest import Manifest, ManifestError, StoredManifest, read_manifest
from archival.archive.round_trips import at_once
from archival.archive.store import ArchiveStore


class ArchiveStateError(Exception):
    """A manifest that cannot be read or parsed."""


@dataclass(frozen=True)
class ArchivedPeriod:
    period: str
    version: int
    stored: StoredManifest

    @property
    def path(self) -> str:
        return self.stored.path

    @property
    def manifest(self) -> Manifest:
        return self.stored.manifest

    @property
    def spec_sha256(self) -> str:
        return self.manifest.spec_sha256

    @property
    def watermark(self) -> str | None:
        return self.manifest.watermark

    @property
    def mode(self) -> str:
        return self.manifest.mode

    @property
    def cursor(self) -> tuple[str, ...] | None:
        """None for full tables and `period=null`."""
        return tuple(self.manifest.window.columns) if self.manifest.window else None

    @property
    def primary_key(self) -> tuple[str, ...] | None:
        return tuple(self.manifest.primary_key) or None

    @property
    def key_checksum(self) -> str | None:
        """Of the live keys (window mode), see archival/checksums.py."""
        return self.manifest.key_checksum.value if self.manifest.key_checksum else None

    @property
    def row_count(self) -> int:
        return self.manifest.row_count

    @property
    def live_rows(self) -> int:
        """Rows minus the keys tombstoned in this period (rows that left the source)."""
        return self.manifest.row_count - self.manifest.deleted_rows


def manifest_versions(store: ArchiveStore, domain: str, table: str) -> dict[str, dict[int, str]]:
    """period -> version -> path, for every manifest version of a table."""
    prefix = f"{layout.table_prefix(domain, table)}/{layout.MANIFESTS}"
    found: dict[str, dict[int, str]] = {}
    for path in store.list(prefix):
        folder, _, name = path.rpartition("/")
        match = layout.MANIFEST_RE.match(name)
        if match and "/period=" in folder:
            found.setdefault(folder.rsplit("/period=", 1)[1], {})[int(match.group(1))] = path
    return found


def latest_manifest(store: ArchiveStore, versions: dict[int, str]) -> StoredManifest:
    """The current manifest of one period (`versions`: version -> path, from manifest_versions)."""
    try:
        return read_manifest(store, versions[max(versions)])
    except ManifestError as exc:
        raise ArchiveStateError(f"{exc}; `archival verify` reports the archive's state") from None


def archived_periods(store: ArchiveStore, domain: str, table: str) -> dict[str, ArchivedPeriod]:
    """Every period's current manifest, read on the archive's shared pool (archive/round_trips.py); an
    unreadable one raises ArchiveStateError, which names it."""
    def read(item: tuple[str, dict[int, str]]) -> ArchivedPeriod:
        period, versions = item
        return ArchivedPeriod(period, max(versions), latest_manifest(store, versions))

    return {p.period: p for p in at_once(read, manifest_versions(store, domain, table).items())}

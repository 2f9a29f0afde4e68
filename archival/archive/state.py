"""What the archive already holds, read from its manifests (no side database): per table and
period, the current (highest) manifest version, typed."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TypeVar

from archival.archive import layout
from archival.archive.manifest import Manifest, ManifestError, StoredManifest, read_manifest
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

T = TypeVar("T")
R = TypeVar("R")

# Periods whose current manifest is read at once. Every plan reads each period's (its status, drift,
# the late-row windows), and on S3 each read waits for a round trip: a daily table of three years is
# 1,000 GETs a run. The pool is shared, so the plan's table readers (plan/build.py) cannot multiply it.
PERIOD_READERS = 16
_PERIOD_POOL = ThreadPoolExecutor(PERIOD_READERS, thread_name_prefix="archive-periods")


def _fresh_pool() -> None:
    """A forked child has none of its parent's threads, but the parent's pool would count them as
    its own and never start new ones: its reads would wait forever."""
    global _PERIOD_POOL
    _PERIOD_POOL = ThreadPoolExecutor(PERIOD_READERS, thread_name_prefix="archive-periods")


os.register_at_fork(after_in_child=_fresh_pool)


def at_once(call: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """`call` of each item, results in order, on the shared pool when there are several: on S3 each
    waits for a round trip of its own (one item runs on this thread). Every call has ended when this
    returns or raises (the first error in order), so a caller that undoes on error undoes all."""
    items = list(items)
    if len(items) < 2:
        return [call(item) for item in items]
    futures = [_PERIOD_POOL.submit(call, item) for item in items]
    wait(futures)
    return [future.result() for future in futures]


def archived_periods(store: ArchiveStore, domain: str, table: str) -> dict[str, ArchivedPeriod]:
    """Every period's current manifest; an unreadable one raises ArchiveStateError, which names it."""
    def read(item: tuple[str, dict[int, str]]) -> ArchivedPeriod:
        period, versions = item
        return ArchivedPeriod(period, max(versions), latest_manifest(store, versions))

    return {p.period: p for p in at_once(read, manifest_versions(store, domain, table).items())}

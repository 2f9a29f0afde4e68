"""What an interrupted attempt can leave in a period's folders: parts that no manifest names (the
attempt died between publishing parts and its manifest) and temp files of writes cut short.

A file is an orphan when no manifest version of its period names it. Reading every version of a
period on every run would cost too much (a full table gains a version with each change), so the
store's timestamps are a prefilter: only a file newer than the current manifest and not named by it
is a candidate, and only candidates are checked against the older versions. Timestamps are not
trusted further than that: an archive copied or checked out anew gives every file a new time, and
then the older versions decide. When one of them cannot be read, nothing is called an orphan."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from archival.archive import layout
from archival.archive.manifest import ManifestError, StoredManifest, read_manifest
from archival.archive.round_trips import at_once
from archival.archive.store import ArchiveStore, ObjectInfo


@dataclass(frozen=True)
class Leftovers:
    orphans: list[ObjectInfo] = field(default_factory=list)
    temps: list[ObjectInfo] = field(default_factory=list)  # `.tmp-` names: partial writes

    def __bool__(self) -> bool:
        return bool(self.orphans or self.temps)


def period_folders(domain: str, table: str, period: str) -> tuple[str, ...]:
    """The folders whose files a period's manifests name: data, tombstones, quarantine."""
    return (layout.period_dir(domain, table, period) + "/",
            f"{layout.table_prefix(domain, table)}/_tombstones/period={period}/",
            layout.quarantine_dir(domain, table, period) + "/")


def table_objects(store: ArchiveStore, domain: str, table: str) -> list[ObjectInfo]:
    """Every object of a table (its folders and its quarantine), temp names included: one listing."""
    return [*store.list_info(layout.table_prefix(domain, table), hidden=True),
            *store.list_info(f"_quarantine/{domain}/{table}", hidden=True)]


def period_objects(store: ArchiveStore, domain: str, table: str, period: str,
                   current: StoredManifest | None) -> list[ObjectInfo]:
    """The objects of one period's folders, and its current manifest (whose time they are measured by):
    three listings and a HEAD on S3, asked at once (each unit's commit pays them)."""
    asks: list[Callable[[], list[ObjectInfo]]] = [functools.partial(store.list_info, folder, hidden=True)
                                                  for folder in period_folders(domain, table, period)]
    if current is not None:
        asks.append(lambda: [store.info(current.path)])
    return [o for found in at_once(lambda ask: ask(), asks) for o in found]


def named_by_older_versions(store: ArchiveStore, domain: str, table: str, period: str,
                            current: StoredManifest) -> Callable[[], set[str] | None]:
    """Every path that a version before `current` names; None when one of them cannot be read."""
    def named() -> set[str] | None:
        paths: set[str] = set()
        for version in range(1, current.manifest.version):
            try:
                older = read_manifest(store, layout.manifest_path(domain, table, period, version)).manifest
            except (ManifestError, OSError):
                return None
            paths |= {f.path for f in [*older.files, *older.tombstones, *older.quarantine]}
        return paths
    return named


def period_leftovers(domain: str, table: str, period: str, objects: list[ObjectInfo],
                     current: StoredManifest | None, named: set[str] = frozenset(),
                     older: Callable[[], set[str] | None] | None = None) -> Leftovers:
    """`objects`: the table's objects (table_objects); `named`: paths a manifest about to be written
    will name, besides the current one's; `older`: what older versions name (asked only if needed)."""
    folders = period_folders(domain, table, period)
    manifest_path = current.path if current else None
    since = next((o.modified for o in objects if o.path == manifest_path), None)
    keep = set(named)
    if current is not None:
        manifest = current.manifest
        keep |= {f.path for f in [*manifest.files, *manifest.tombstones, *manifest.quarantine]}
    found = Leftovers()
    for obj in objects:
        if not obj.path.startswith(folders):
            continue
        if obj.path.rsplit("/", 1)[-1].startswith(".tmp-"):
            found.temps.append(obj)
        elif obj.path not in keep and (since is None or obj.modified >= since):
            found.orphans.append(obj)
    if found.orphans and current is not None and current.manifest.version > 1:
        known = older() if older is not None else None
        found.orphans[:] = [] if known is None else [o for o in found.orphans if o.path not in known]
    return found

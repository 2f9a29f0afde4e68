"""Where each archived period stands: its data class, the tier it is in and the tier it is due for,
and what `archival lifecycle` would do about it. Reads only: manifests, the audit chain (holds and
earlier transitions) and, on S3, each file's storage class."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from archival.archive.audit_log import read_chain
from archival.archive.manifest import StoredManifest, read_manifest
from archival.archive.rows import run_times, written_at
from archival.archive.s3 import S3Store
from archival.archive.state import archived_periods, manifest_versions
from archival.archive.store import ArchiveStore, LocalStore
from archival.lifecycle.classes import TIERS, DataClass, Due, due, period_end
from archival.lifecycle.holds import Hold, holds
from archival.spec.model import Project, Table, Tier

Action = Literal["none", "transition", "expire", "held", "expired", "locked"]


@dataclass(frozen=True)
class PeriodState:
    table: Table
    period: str
    stored: StoredManifest  # the current version
    due: Due
    tier_now: Tier | None  # None once expired
    files: tuple[str, ...]  # every file the period's versions name (data, tombstones, quarantine)
    current_files: tuple[str, ...]  # the current version's
    bytes: int
    rows: int
    action: Action
    hold: Hold | None = None
    locked_until: datetime | None = None  # S3 Object Lock keeps it from expiring until then

    @property
    def data_class(self) -> DataClass:
        return "expired" if self.stored.manifest.expiry else self.due.data_class


def _files(stored: StoredManifest) -> list[tuple[str, int]]:
    m = stored.manifest
    return [(f.path, f.bytes) for f in [*m.files, *m.tombstones, *m.quarantine]]


def recorded_tiers(store: ArchiveStore) -> dict[tuple[str, str], Tier]:
    """(table, period) -> the tier the last `transition` entry moved it to (local targets keep no class)."""
    tiers: dict[tuple[str, str], Tier] = {}
    for _, _, entry in read_chain(store):
        if entry.get("action") == "transition":
            tiers[(entry["table"], entry["period"])] = entry["to"]
    return tiers


def _tier_now(store: ArchiveStore, table: Table, period: str, paths: list[str],
              recorded: dict[tuple[str, str], Tier], probe: bool) -> Tier:
    """On S3 the lowest tier any current file is in (a half-done transition is not done); locally, and
    without `probe`, the record of the last transition."""
    if not probe or not isinstance(store, S3Store) or not paths:
        return recorded.get((table.qualified_name, period), table.tier)
    found = [store.tier_of(store.storage_class(p)) for p in paths]
    return min(found, key=TIERS.index)


def _all_versions(store: ArchiveStore, table: Table, period: str) -> list[str]:
    versions = manifest_versions(store, table.domain, table.name).get(period, {})
    return sorted({p for v in versions.values() for p, _ in _files(read_manifest(store, v))})


def _locked(store: ArchiveStore, paths: list[str]) -> datetime | None:
    """The latest S3 Object Lock date of the files that lies in the future (by the clock, not --as-of)."""
    if not isinstance(store, S3Store) or not store.object_lock:
        return None
    now = datetime.now(UTC)
    dates = [d for d in (store.locked_until(p) for p in paths) if d is not None and d > now]
    return max(dates) if dates else None


def home(store: LocalStore, tier: str) -> str:
    """The tier whose folder holds a tier's files (a tier without a folder stays in the root)."""
    return tier if tier in store.tiers else "hot"


def _last_tier(table: Table) -> Tier:
    r = table.retention
    return next(t for t, d in (("cold", r.cold), ("cool", r.cool), ("hot", r.hot)) if d is not None)


def manifest_past(when: Due, table: Table) -> bool:
    """Whether the period is past its whole retention (what a hold keeps from expiring)."""
    r = table.retention
    total = sum((d.delta for d in (r.hot, r.cool, r.cold) if d is not None), timedelta(0))
    return r.then == "delete" and when.age is not None and when.age >= total


def survey(project: Project, store: ArchiveStore, tables: list[Table], as_of: datetime,
           probe: bool = True) -> list[PeriodState]:
    """`probe=False`: no request per S3 object (the tiers as the audit chain recorded them): for `plan`."""
    runs, standing, recorded = run_times(store), holds(store), recorded_tiers(store)
    states = []
    for table in tables:
        domain = project.domain(table.domain)
        assert domain is not None
        for period, archived in sorted(archived_periods(store, table.domain, table.name).items()):
            stored = archived.stored
            manifest = stored.manifest
            ended = period_end(table, period, written_at(manifest, runs), domain.timezone)
            when = due(table, ended, as_of)
            hold = next((h for h in standing.values() if h.covers(table.qualified_name, period)), None)
            current = _files(stored)
            if manifest.expiry:
                left = [p for p in _all_versions(store, table, period) if store.exists(p)]
                states.append(PeriodState(table, period, stored, when, None, tuple(left), (), 0, 0,
                                          "expire" if left else "expired"))
                continue
            size = sum(b for _, b in current)
            paths = [p for p, _ in current]
            tier_now = _tier_now(store, table, period, paths, recorded, probe)
            if isinstance(store, LocalStore) and store.tiers:
                tier_now = manifest.storage_tier or table.tier
                if when.tier is not None and TIERS.index(when.tier) <= TIERS.index(tier_now) and \
                        any(store.copies(p) != [home(store, tier_now)] for p in paths):
                    when = replace(when, tier=tier_now)  # a move a crash cut short: finish it
                    states.append(PeriodState(table, period, stored, when, tier_now, tuple(paths), tuple(paths),
                                              size, manifest.row_count, "transition", hold))
                    continue
            if when.tier is None and hold:  # past its retention but held: kept, in the last tier it would reach
                when = replace(when, data_class="archived", tier=_last_tier(table))
            lock = None
            if when.tier is None:
                files = tuple(_all_versions(store, table, period))
                lock = _locked(store, paths)
                action: Action = "locked" if lock else "expire"
            else:
                moves = not (isinstance(store, S3Store) and store.object_lock)  # locked: bucket rules move them
                action = "transition" if moves and TIERS.index(when.tier) > TIERS.index(tier_now) else \
                    "held" if hold and when.data_class == "archived" and manifest_past(when, table) else "none"
                files = tuple(paths)
            states.append(PeriodState(table, period, stored, when, tier_now, files, tuple(paths), size,
                                      manifest.row_count, action, hold,
                                      lock if when.tier is None else None))
    return states

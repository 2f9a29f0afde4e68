"""What `archival lifecycle` does to a period, each step safe to repeat:

- transition: every file of the current version to the storage class of its due tier (S3: a copy in
  place, same key, bytes and sha256), then a `transition` audit entry; a local target records the
  tier only. A crash midway leaves some files moved: the next run finds the lowest tier and finishes.
- expire: first a new manifest version that says so (`expiry`: who, when, policy, files, bytes, rows,
  the sha256 of the version it ends) and its audit entry, then the files of every version are
  deleted. `verify` accepts those files missing only because that version exists; a crash after it
  leaves files that the next run deletes (and a version without its entry gets it)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from archival.archive import layout
from archival.archive.audit_log import length, recorded
from archival.archive.manifest import Expiry, Fingerprint, StoredManifest, read_manifest
from archival.archive.s3 import S3Store
from archival.archive.store import ArchiveStore, LocalStore
from archival.lifecycle.classes import policy
from archival.lifecycle.holds import initiator
from archival.lifecycle.survey import PeriodState, home, survey
from archival.record import audit
from archival.record.anchor import record_head
from archival.spec.model import Project, Table

EMPTY = Fingerprint(algorithm="sum-md5-json-v1", value="0" * 32)


def _transition_entry(store: ArchiveStore, stored: StoredManifest, state: PeriodState, tier: str, files: int,
                      at: str) -> None:
    audit.append(store, {"action": "transition", "manifest": stored.path, "manifest_sha256": stored.sha256,
                         "table": state.table.qualified_name, "period": state.period, "from": state.tier_now,
                         "to": tier, "files": files, "bytes": state.bytes, "by": initiator(), "at": at})


def _move_local(store: LocalStore, state: PeriodState) -> None:
    """Copy each file into the tier's folder (fsync, sha256), record a manifest version that says
    where they are, then remove the other copies: any crash leaves every file readable somewhere."""
    tier = state.due.tier
    assert tier is not None
    m = state.stored.manifest
    entries = [*m.files, *m.tombstones, *m.quarantine]
    for entry in entries:
        store.copy_to_tier(entry.path, home(store, tier), entry.sha256)
    if m.storage_tier == tier and not recorded(store, state.stored):  # a crash came between version and entry
        _transition_entry(store, state.stored, state, tier, len(entries), state.stored.manifest.created_at)
    elif m.storage_tier != tier:
        now = datetime.now(UTC).isoformat()
        moved = m.model_copy(update={"storage_tier": tier, "version": m.version + 1, "created_at": now,
                                     "previous_manifest_sha256": state.stored.sha256, "run_id": f"lifecycle-{now}",
                                     "audit_after": length(store)})
        path = layout.manifest_path(m.domain, m.table, m.period, moved.version)
        store.put_new(path, moved.to_bytes())
        _transition_entry(store, read_manifest(store, path), state, tier, len(entries), now)
    for entry in entries:
        store.remove_other_copies(entry.path, home(store, tier))


def transition(store: ArchiveStore, state: PeriodState) -> int:
    """Moves the files; returns how many changed class."""
    assert state.due.tier is not None
    if isinstance(store, LocalStore) and store.tiers:
        _move_local(store, state)
        return len(state.current_files)
    moved = 0
    if isinstance(store, S3Store):
        wanted = store.classes[state.due.tier]
        for path in state.current_files:
            if store.storage_class(path) != wanted:
                store.set_storage_class(path, wanted)
                moved += 1
    audit.append(store, {"action": "transition", "table": state.table.qualified_name, "period": state.period,
                         "from": state.tier_now, "to": state.due.tier, "files": len(state.current_files),
                         "bytes": state.bytes, "storage_class": store.classes[state.due.tier]
                         if isinstance(store, S3Store) else None, "by": initiator(),
                         "at": datetime.now(UTC).isoformat()})
    return moved


def _expired_version(store: ArchiveStore, state: PeriodState) -> StoredManifest:
    old = state.stored.manifest
    now = datetime.now(UTC).isoformat()
    expiry = Expiry(at=now, by=initiator(), policy=policy(state.table), files=len(state.current_files),
                    bytes=state.bytes, rows=old.row_count, expired_manifest_sha256=state.stored.sha256)
    manifest = old.model_copy(update={
        "files": [], "tombstones": [], "quarantine": [], "row_count": 0, "deleted_rows": 0, "quarantined_rows": 0,
        "fingerprint": EMPTY, "key_census": None, "key_checksum": None, "version": old.version + 1,
        "previous_manifest_sha256": state.stored.sha256, "created_at": now, "run_id": f"lifecycle-{now}",
        "expiry": expiry, "audit_after": length(store)})
    path = layout.manifest_path(old.domain, old.table, old.period, manifest.version)
    store.put_new(path, manifest.to_bytes())
    return read_manifest(store, path)


def _record_expiry(store: ArchiveStore, stored: StoredManifest) -> None:
    expiry = stored.manifest.expiry
    assert expiry is not None
    audit.append(store, {"action": "expire", "manifest": stored.path, "manifest_sha256": stored.sha256,
                         "table": f"{stored.manifest.domain}.{stored.manifest.table}",
                         "period": stored.manifest.period, "policy": expiry.policy, "files": expiry.files,
                         "bytes": expiry.bytes, "rows": expiry.rows, "by": expiry.by, "at": expiry.at})


def expire(store: ArchiveStore, state: PeriodState) -> int:
    """Returns how many files were deleted."""
    stored = state.stored if state.stored.manifest.expiry else _expired_version(store, state)
    if not recorded(store, stored):
        _record_expiry(store, stored)
    deleted = 0
    for path in state.files:
        if isinstance(store, S3Store):
            if store.exists(path):
                store.purge(path)  # every version: a versioned bucket would keep the bytes
                deleted += 1
            continue
        while store.exists(path):  # a local target with tier folders may hold more than one copy
            store.delete(path)
            deleted += 1
    return deleted


def sweep_temps(store: ArchiveStore, table: Table) -> int:
    """Temp files a killed lifecycle (or export) left in the table's folders, tier folders included,
    whose writer is gone; returns how many were removed."""
    prefix = layout.table_prefix(table.domain, table.name)
    return sum(1 for path in store.list(prefix, hidden=True)
               if path.rsplit("/", 1)[-1].startswith(".tmp-") and store.remove_dead_temp(path))


def apply(store: ArchiveStore, state: PeriodState) -> PeriodState:
    if state.action == "transition":
        transition(store, state)
        return replace(state, tier_now=state.due.tier, action="none")
    if state.action == "expire":
        expire(store, state)
        return replace(state, tier_now=None, action="expired")
    return state


def run_lifecycle(project: Project, store: ArchiveStore, tables: list[Table], as_of: datetime,
                  dry_run: bool = False) -> list[tuple[PeriodState, PeriodState]]:
    """What `archival lifecycle` and its flow do: leftover temp files swept, every period surveyed,
    what is due applied. Returns (as found, as left) per period."""
    if not dry_run:
        for table in tables:
            sweep_temps(store, table)
    found = survey(project, store, tables, as_of)
    if dry_run:
        return [(s, s) for s in found]
    applied = [(s, apply(store, s) if s.action in ("transition", "expire") else s) for s in found]
    record_head(store, project.root, project.name)
    return applied

"""The `record` stage: one unit's output committed as a small state machine. The manifest is the
commit point; every step is create-only or idempotent, so a rerun after a crash at any boundary
finishes what was left:

    checks    the rows read, written and set aside add up; the schema's drift policy holds
    parts     data, tombstone and quarantine parts published under content names (a rerun over the
              same rows finds identical files and adopts them)
    orphans   files that an interrupted attempt left and no manifest will name are set aside
    manifest  the next version, unless the current one already says the same
    audit     the entry of a new version, or of a current one a crash kept from being recorded
    lineage   the OpenLineage COMPLETE event

A crash between `manifest` and `audit` leaves a version without its entry: the next run's plan marks
the period for repair and this stage appends the entry (archive/audit_log.recorded)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from archival.archive import layout
from archival.archive.audit_log import recorded
from archival.archive.leftovers import named_by_older_versions, period_leftovers, period_objects
from archival.archive.manifest import FileEntry, SchemaChange, StoredManifest
from archival.archive.store import ArchiveStore
from archival.failpoints import failpoint
from archival.plan.units import ExportUnit
from archival.record import audit
from archival.record.lineage import LineageEmitter, SourceDataset
from archival.record.next_manifest import UnitOutput, next_manifest, schema_diff
from archival.record.orphans import set_aside
from archival.record.publish import Published, publish_manifest
from archival.spec.model import Domain, Source, Table
from archival.write.parts import EXTENSIONS, LocalPart, PartWriter


class UnitIntegrityError(Exception):
    """What was read does not match what the source snapshot counted (nothing is published)."""


class DataPolicyError(Exception):
    """The data breaks a declared policy (NULL cursor under `fail`, drift under `freeze`)."""


@dataclass(frozen=True)
class Produced:
    """The local files a unit's stream produced, and what its counts must satisfy."""

    parts: list[LocalPart]
    quarantined: list[LocalPart]
    departed: pa.Table | None  # keys to tombstone
    rows_read: int
    filtered: bool  # a `versions` stage dropped rows the period already holds
    carried: int = 0  # a refresh: archived versions written again (no source row replaced them)
    set_aside_before: int = 0  # a refresh: invalid rows the period's quarantine already holds
    uploaded: dict[str, FileEntry] = field(default_factory=dict)  # sha256 -> parts the spool put already


@dataclass(frozen=True)
class Committed:
    published: Published
    output: UnitOutput  # with the published files
    new_bytes: int
    new_files: int
    set_aside: int


@dataclass(frozen=True)
class UnitCommit:
    store: ArchiveStore
    unit: ExportUnit
    domain: Domain
    table: Table
    source: Source
    run_id: str
    work: Path
    current: StoredManifest | None  # this period's current version
    reference: StoredManifest | None  # what drift is measured against: `current`, else the table's latest
    completed_runs: frozenset[str] = frozenset()
    source_namespace: str | None = None  # the source as a lineage namespace (archival/source/namespace.py)

    def commit(self, produced: Produced, out: UnitOutput, lineage: LineageEmitter | None) -> Committed:
        if lineage:
            lineage.started(self.unit.id)  # its START is in the archive before anything of the unit
        self._checks(produced, out)
        out = self._drift(out)
        if self._same_rows(produced, out) or self._same_snapshot(produced, out):
            assert self.current is not None
            published = Published(self.current, False)
            self._audit(published)
            return Committed(published, out, 0, 0, 0)
        out = self._parts(produced, out)
        failpoint("record:parts", self.unit.id)
        base = self.current.manifest if self.current and (self.unit.delta or self.unit.rewrite) else None
        draft = next_manifest(self.unit, self.domain, self.table, self.source, self.run_id, out, base,
                              rewrite=self.unit.rewrite)
        moved = self._orphans(draft)
        failpoint("record:orphans", self.unit.id)
        published = publish_manifest(self.store, draft, self.current)
        failpoint("record:manifest", self.unit.id)
        self._audit(published)
        failpoint("record:audit", self.unit.id)
        if lineage:
            read = SourceDataset(self.source_namespace, self.table.relation,
                                 {c.name: c.pii for c in self.table.columns if c.pii}) \
                if self.source_namespace else None
            lineage.complete(self.unit.id, self.unit.qualified_table,
                             f"{self.unit.domain}/{self.unit.table}/period={self.unit.period}",
                             [(c.name, c.type) for c in out.schema], out.rows_new,
                             sum(p.bytes for p in produced.parts), len(produced.parts), read)
        return Committed(published, out, sum(p.bytes for p in produced.parts), len(produced.parts), moved)

    def _checks(self, produced: Produced, out: UnitOutput) -> None:
        written = sum(p.rows for p in produced.parts)
        set_aside_rows = sum(q.rows for q in produced.quarantined)
        from_source = written - produced.carried
        accounted = from_source + set_aside_rows + produced.set_aside_before
        if produced.rows_read != out.source_rows or out.rows_new != written or (
                not produced.filtered and accounted != produced.rows_read):
            raise UnitIntegrityError(f"{self.unit.id}: the source snapshot counted {out.source_rows} rows, "
                                     f"{produced.rows_read} were read, {from_source} written and {set_aside_rows} set "
                                     "aside; nothing was published")

    def _same_rows(self, produced: Produced, out: UnitOutput) -> bool:
        """A refresh that found the period's rows as archived: no new version (fingerprints are sums of
        row hashes, so equal sums over equal counts mean the same rows)."""
        current = self.current.manifest if self.current else None
        return (self.unit.rewrite and current is not None and self._same_key(current) and out.schema_change is None
                and out.fingerprint == current.fingerprint.value and out.rows_new == current.row_count
                and out.fingerprint_algorithm == current.fingerprint.algorithm
                and not produced.quarantined and (produced.departed is None or not produced.departed.num_rows))

    def _same_snapshot(self, produced: Produced, out: UnitOutput) -> bool:
        """A full snapshot equal to the current one in everything but its files' bytes: encrypted
        files differ on every write (a fresh data key each), so the rows decide, as a plain rerun's
        byte-identical files do."""
        current = self.current.manifest if self.current else None
        if current is None or self.table.mode != "full" or not any(f.key for f in current.files) \
                or not self._same_key(current) or out.fingerprint != current.fingerprint.value \
                or out.fingerprint_algorithm != current.fingerprint.algorithm \
                or produced.quarantined:
            return False
        kept = replace(out, files=current.files, tombstones=current.tombstones, quarantine=current.quarantine)
        draft = next_manifest(self.unit, self.domain, self.table, self.source, self.run_id, kept, None)
        return draft.content() == current.content()

    def _same_key(self, current) -> bool:
        """The current files are sealed as new ones would be (same master key, or plain both): else
        equal rows still get a new version, so a refresh re-encrypts a period under a rotated key."""
        return {f.key for f in [*current.files, *current.quarantine]} <= {self.store.keys.writing}

    def _drift(self, out: UnitOutput) -> UnitOutput:
        if self.reference is None:
            return out
        diff = schema_diff(self.reference.manifest.columns, out.schema)
        if not any(diff.values()):
            return out
        if self.table.drift == "freeze":
            raise DataPolicyError(f"{self.table.location}: schema of {self.table.relation} drifted and drift is "
                                  "'freeze': " + "; ".join(f"{k} {', '.join(v)}" for k, v in diff.items() if v))
        return replace(out, schema_change=SchemaChange(compared_with=self.reference.path, **diff))

    def _lock_until(self) -> datetime | None:
        return retain_until(self.table, self.unit)

    def _publish(self, parts: list[LocalPart], folder: str, first: int, extension: str,
                 uploaded: dict[str, FileEntry] | None = None) -> list[FileEntry]:
        entries = []
        current = self.current.manifest if self.current else None
        named = {f.path: f.sha256 for f in [*current.files, *current.tombstones, *current.quarantine]} \
            if current else {}
        for offset, part in enumerate(parts):
            path = f"{folder}/{layout.part_name(first + offset, part.sha256, extension)}"
            early = (uploaded or {}).get(part.sha256)
            if early is not None and early.path == path:  # the spool put it while the unit read
                entries.append(early)
                continue
            # the current version's own file (an unchanged snapshot): the store looks before it sends
            self.store.put_file(path, part.path, part.sha256, tier=self.table.tier, lock_until=self._lock_until(),
                                expected=named.get(path) == part.sha256)
            entries.append(FileEntry(path=path, rows=part.rows, bytes=part.bytes, sha256=part.sha256, key=part.key))
        return entries

    def _parts(self, produced: Produced, out: UnitOutput) -> UnitOutput:
        unit = self.unit
        base = self.current.manifest if self.current and (unit.delta or unit.rewrite) else None
        # a rewrite's files replace the period's, numbered after them so no name is reused
        files = self._publish(produced.parts, layout.period_dir(unit.domain, unit.table, unit.period),
                              len(base.files) if base else 0, EXTENSIONS[self.table.format], produced.uploaded)
        tombstones: list[FileEntry] = []
        if produced.departed is not None and produced.departed.num_rows:
            writer = PartWriter(self.work / "tombstones", "parquet", produced.departed.schema,
                                target_file_bytes=1 << 40, row_group_rows=max(produced.departed.num_rows, 1),
                                keys=self.store.keys)
            for batch in produced.departed.to_batches():
                writer.write(batch)
            folder = f"{layout.table_prefix(unit.domain, unit.table)}/_tombstones/period={unit.period}"
            tombstones = self._publish(writer.close(), folder, len(base.tombstones) if base else 0, "parquet")
        quarantine = self._publish(produced.quarantined, layout.quarantine_dir(unit.domain, unit.table, unit.period),
                                   len(base.quarantine) if base else 0, "parquet")
        return replace(out, files=files, tombstones=tombstones, quarantine=quarantine)

    def _orphans(self, draft) -> int:
        named = {f.path for f in [*draft.files, *draft.tombstones, *draft.quarantine]}
        unit = self.unit
        objects = period_objects(self.store, unit.domain, unit.table, unit.period, self.current)
        older = named_by_older_versions(self.store, unit.domain, unit.table, unit.period, self.current) \
            if self.current else None
        found = period_leftovers(unit.domain, unit.table, unit.period, objects, self.current, named, older)
        return set_aside(self.store, found, self.run_id, self.unit.id) if found else 0

    def _unrecorded(self, stored: StoredManifest | None) -> bool:
        """A version a crash kept from its audit entry (only runs without a run record can leave one)."""
        return stored is not None and stored.manifest.run_id not in self.completed_runs \
            and not recorded(self.store, stored)

    def _audit(self, published: Published) -> None:
        """The new version's entry; and the entry of any current version that lost its own."""
        if published.written and self._unrecorded(self.current):
            self._append(self.current, recovered=True)
        if published.written or self._unrecorded(published.stored):
            self._append(published.stored, recovered=not published.written)

    def _append(self, stored: StoredManifest, recovered: bool) -> None:
        audit.append_publish(self.store, self.run_id, self.unit.id, stored, recovered=(
            f"written by run {stored.manifest.run_id}, which was interrupted before this entry" if recovered else None),
            refresh=None if recovered else self.unit.refresh)


def retain_until(table: Table, unit: ExportUnit) -> datetime | None:
    """An object lock no later than the planned expiry: the end of what the unit read (a period's end
    at most) plus the whole retention; None without one."""
    total = table.retention.total
    if not total:
        return None
    window = unit.window
    return (window.end if window is not None and table.mode != "full" else datetime.now(UTC)) + total

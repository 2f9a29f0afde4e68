"""The next manifest of a period, from what a unit produced (UnitOutput) and, for a delta, the current
version it extends: old files plus the new part, old tombstones and quarantine plus the new ones,
fingerprints and violation counts added up. A draft: publishing fixes its version and chain."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from archival import __version__
from archival.archive.manifest import (
    Contract,
    Documentation,
    FileEntry,
    Fingerprint,
    KeyCensus,
    KeyChecksum,
    Manifest,
    ManifestWindow,
    SchemaChange,
    SchemaColumn,
    SourceColumnRecord,
    SourceRef,
    SourceSummary,
)
from archival.checksums import ALGORITHM, KEY_ALGORITHM, FingerprintAlgorithm, combine
from archival.plan.units import SPECIAL_PERIODS, ExportUnit
from archival.source.types import ColumnRead
from archival.spec.model import Domain, Source, Table


@dataclass
class UnitOutput:
    """What a unit's stream produced, ready to be recorded."""

    files: list[FileEntry]  # new parts, published
    tombstones: list[FileEntry]
    quarantine: list[FileEntry]
    fingerprint: str
    schema: list[SchemaColumn]
    reads: list[ColumnRead]
    source_rows: int
    rows_new: int
    max_cursor: datetime | None
    read_strategy: str
    violations: Counter = field(default_factory=Counter)
    contract_recorded: bool = False
    key_checksum: str | None = None
    key_census: KeyCensus | None = None
    schema_change: SchemaChange | None = None
    fingerprint_algorithm: FingerprintAlgorithm = ALGORITHM  # of `fingerprint` (archive/fingerprint.py)


def _carried(base: Manifest | None, schema: list[SchemaColumn]) -> list[FileEntry]:
    """The files a delta keeps, each naming its own schema once the period's schema has moved on."""
    if base is None:
        return []
    if base.columns == schema:
        return list(base.files)
    return [f if f.columns else f.model_copy(update={"columns": base.columns}) for f in base.files]


def _window(unit: ExportUnit) -> ManifestWindow | None:
    if unit.window is None:
        return None
    columns = list(unit.window.columns)
    return ManifestWindow(column=columns[0] if len(columns) == 1 else f"coalesce({', '.join(columns)})",
                          columns=columns, start=unit.window.start.isoformat(), end=unit.window.end.isoformat())


def _documentation(domain: Domain, table: Table) -> Documentation:
    return Documentation(owner=domain.owner, domain_description=domain.description, description=table.description,
                         columns={c.name: c.description for c in table.columns if c.description})


def _fingerprint(out: UnitOutput, base: Manifest | None, rewrite: bool) -> Fingerprint:
    """A delta adds its rows' sums to the base's, so both must be of one algorithm (the plan keeps a
    period's algorithm for its deltas: plan/compile.py)."""
    if base is None or rewrite:
        return Fingerprint(algorithm=out.fingerprint_algorithm, value=out.fingerprint)
    if base.fingerprint.algorithm != out.fingerprint_algorithm:
        raise ValueError(f"{base.domain}.{base.table}/{base.period}: rows fingerprinted with "
                         f"{out.fingerprint_algorithm} cannot extend v{base.version}'s {base.fingerprint.algorithm}")
    return Fingerprint(algorithm=out.fingerprint_algorithm, value=combine(base.fingerprint.value, out.fingerprint))


def next_manifest(unit: ExportUnit, domain: Domain, table: Table, source: Source, run_id: str, out: UnitOutput,
                  base: Manifest | None, rewrite: bool = False) -> Manifest:
    """`base`: the current version when the unit extends it (a delta) or rewrites it (a refresh: its
    files are replaced, its tombstones and quarantine carried), else None."""
    files = out.files if rewrite else _carried(base, out.schema) + out.files
    tombstones = (base.tombstones if base else []) + out.tombstones
    quarantine = (base.quarantine if base else []) + out.quarantine
    violations = Counter(out.violations)
    if base and base.contract and not rewrite:  # a rewrite re-checked every row the source has
        violations.update(base.contract.violations)
    contract = Contract(on_invalid=table.on_invalid, violations=dict(violations)) if out.contract_recorded else None
    special = unit.period in SPECIAL_PERIODS
    return Manifest(
        schema_version=1, domain=unit.domain, table=unit.table, period=unit.period, mode=unit.mode,
        window=_window(unit), source=SourceRef(name=source.name, type=source.type, relation=table.relation),
        primary_key=list(table.primary_key), spec_sha256=unit.spec_sha256, tool_version=__version__,
        format=table.format, timezone=table.timezone, schema=out.schema, files=files,
        row_count=sum(f.rows for f in files), tombstones=tombstones, deleted_rows=sum(t.rows for t in tombstones),
        fingerprint=_fingerprint(out, base, rewrite),
        source_summary=SourceSummary(row_count=out.source_rows, rows_new=out.rows_new,
                                     max_cursor=out.max_cursor.isoformat() if out.max_cursor else None,
                                     read_strategy=out.read_strategy),
        quarantine=quarantine, quarantined_rows=sum(q.rows for q in quarantine),
        pii={c.name: c.pii for c in table.columns if c.pii},
        # a special period's window says which rows it holds, not how far the calendar was read
        watermark=unit.window.end.isoformat() if unit.window and not special else None,
        run_id=run_id, created_at=datetime.now(UTC).isoformat(timespec="seconds"), version=1,
        previous_manifest_sha256=None, schema_change=out.schema_change, contract=contract,
        key_checksum=KeyChecksum(algorithm=KEY_ALGORITHM, value=out.key_checksum) if out.key_checksum else None,
        key_census=out.key_census,
        source_schema=[SourceColumnRecord(name=r.name, source_type=r.column.native_type, nullable=r.column.nullable,
                                          rule=r.rule) for r in out.reads],
        documentation=_documentation(domain, table))


def schema_diff(old: list[SchemaColumn], new: list[SchemaColumn]) -> dict[str, list[str]]:
    before = {c.name: c.type for c in old}
    after = {c.name: c.type for c in new}
    return {"added": [n for n in after if n not in before], "removed": [n for n in before if n not in after],
            "retyped": [f"{n}: {before[n]} -> {after[n]}" for n in after if n in before and before[n] != after[n]]}

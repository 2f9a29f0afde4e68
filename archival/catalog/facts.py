"""What the catalog shows, gathered from the specs, the manifests (through the lifecycle survey: tier
and data class per period), the run records and the purge records. No source is asked: the catalog
describes the archive, offline."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archival.archive.rows import run_times
from archival.archive.store import ArchiveStore
from archival.lifecycle.survey import survey
from archival.spec.model import Domain, Project, Table


@dataclass(frozen=True)
class PeriodFacts:
    label: str
    version: int
    rows: int
    live_rows: int
    bytes: int
    tier: str
    data_class: str
    run_id: str
    written_at: str
    status: str  # current, expired, held


@dataclass(frozen=True)
class ColumnFacts:
    name: str
    type: str
    nullable: bool
    pii: str | None
    description: str | None
    rules: str  # the contract, briefly


@dataclass
class TableFacts:
    table: Table
    source: str  # "name (type)"
    columns: list[ColumnFacts] = field(default_factory=list)
    periods: list[PeriodFacts] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)  # master keys the current files are encrypted under
    plain_files: int = 0  # current files not encrypted

    @property
    def encryption(self) -> str:
        if not self.keys:
            return "no"
        named = ", ".join(sorted(self.keys))
        return named + (f"; {self.plain_files} file(s) plain" if self.plain_files else "")


@dataclass
class RunFacts:
    run_id: str
    as_of: str
    outcomes: dict[str, int]
    failures: list[tuple[str, str, str]]  # unit, error class, error

    @property
    def failed(self) -> bool:
        return bool(self.failures)


@dataclass
class CatalogFacts:
    project: Project
    archive: str
    generated_at: str
    domains: list[tuple[Domain, list[TableFacts]]]
    runs: list[RunFacts]


def _rules(column) -> str:
    parts = []
    if column is None:
        return ""
    if not column.nullable:
        parts.append("not null")
    if column.unique:
        parts.append("unique")
    if column.allowed is not None:
        parts.append("one of " + ", ".join(map(str, column.allowed)))
    for name in ("min", "max", "max_length", "regex"):
        if getattr(column, name) is not None:
            parts.append(f"{name} {getattr(column, name)}")
    parts += [f"check {c}" for c in column.checks]
    return "; ".join(parts)


def _columns(table: Table, manifest) -> list[ColumnFacts]:
    declared = {c.name: c for c in table.columns}
    found = []
    for column in (manifest.columns if manifest else []):
        spec = declared.get(column.name)
        found.append(ColumnFacts(column.name, column.type, column.nullable, spec.pii if spec else None,
                                 spec.description if spec else None, _rules(spec)))
    archived = {c.name for c in found}
    found += [ColumnFacts(c.name, "(not archived)", True, c.pii, c.description, _rules(c))
              for c in table.columns if c.name not in archived]  # dropped PII columns are documented too
    return found


def _runs(store: ArchiveStore, limit: int) -> list[RunFacts]:
    runs = []
    for path in sorted((p for p in store.list("_runs") if p.endswith(".json")), reverse=True)[:limit]:
        record: dict[str, Any] = json.loads(store.read_bytes(path))
        failures = [(u["unit_id"], u.get("error_class") or "", (u.get("error") or "")[:300])
                    for u in record.get("units", []) if u.get("outcome") == "failed"]
        runs.append(RunFacts(record.get("run_id", path), record.get("as_of", ""),
                             dict(record.get("totals", {}).get("outcomes", {})), failures))
    return runs


def gather(project: Project, store: ArchiveStore, tables: list[Table], as_of: datetime,
           runs: int = 20) -> CatalogFacts:
    states = survey(project, store, tables, as_of, probe=False)
    times = run_times(store)
    by_table: dict[str, TableFacts] = {}
    for table in tables:
        source = project.source_of_table(table)
        by_table[table.qualified_name] = TableFacts(table, f"{source.name} ({source.type})")
    for state in states:
        manifest = state.stored.manifest
        facts = by_table[state.table.qualified_name]
        if not manifest.expiry:
            facts.keys |= {f.key for f in manifest.files if f.key}
            facts.plain_files += sum(1 for f in manifest.files if not f.key)
        status = "expired" if manifest.expiry else ("held" if state.hold else "current")
        written = times.get(manifest.run_id)
        facts.periods.append(PeriodFacts(state.period, manifest.version, manifest.row_count,
                                         manifest.row_count - manifest.deleted_rows,
                                         sum(f.bytes for f in manifest.files), state.tier_now or "-",
                                         state.data_class, manifest.run_id,
                                         (written.isoformat() if written else manifest.created_at), status))
    for facts in by_table.values():
        facts.periods.sort(key=lambda p: p.label)
        latest = max(((s.period, s.stored.manifest) for s in states if s.table is facts.table), default=None)
        facts.columns = _columns(facts.table, latest[1] if latest else None)
    domains = []
    for domain in project.domains:
        listed = [by_table[t.qualified_name] for t in domain.tables if t.qualified_name in by_table]
        if listed:
            domains.append((domain, listed))
    return CatalogFacts(project, store.describe(), as_of.isoformat(timespec="seconds"), domains,
                        _runs(store, runs))

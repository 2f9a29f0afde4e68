"""`archival scrub --repair`: a damaged or missing archive file comes back when the source still
reproduces it. The file's period is exported again into scratch space through its table's own
stages (nothing is published); a part with exactly the sha256 the manifest names is the file as it
was, so the damaged bytes move to `_orphans/<run_id>/` and the part goes back under its name, with
an audit entry. The manifest stays as it is: it names the same bytes again.

When no part matches, the source no longer holds the rows the file held (edited, deleted, purged),
or the period was written in several versions whose parts one export does not reproduce: the file is
reported as unrepairable (restore it from a copy; `verify` keeps naming it)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from archival.archive.layout import new_run_id
from archival.archive.state import archived_periods
from archival.archive.store import ArchiveStore
from archival.plan.stage_list import stages_for
from archival.record import audit
from archival.record.anchor import record_head
from archival.record.orphans import orphan_path
from archival.run.context import RunContext
from archival.run.unit import produce_parts
from archival.spec.model import Project, Table
from archival.verify.reconcile import period_unit
from archival.verify.scrub import ScrubbedFile, ScrubReport, scrub


@dataclass(frozen=True)
class Repair:
    path: str
    repaired: bool
    message: str


@dataclass
class ScrubOutcome:
    report: ScrubReport
    repairs: list[Repair]

    @property
    def left(self) -> list[str]:
        """What stays damaged: files not repaired, and unreadable manifests."""
        repaired = {r.path for r in self.repairs if r.repaired}
        return [p for p in self.report.damaged() if p not in repaired]


def scrub_and_repair(project: Project, store: ArchiveStore, target: str, tables: list[Table],
                     subset: tuple[int, int], deep: bool, repair: bool) -> ScrubOutcome:
    """What `archival scrub` and its flow do: check a part of the files, repair the damaged ones."""
    report = scrub(store, tables, subset, deep)
    files = {f.path: f for f in report.files}
    damaged = [files[p] for p in report.damaged() if p in files]
    return ScrubOutcome(report, repair_files(project, store, target, damaged) if repair and damaged else [])


def repair_files(project: Project, store: ArchiveStore, target: str, files: list[ScrubbedFile]) -> list[Repair]:
    run_id = new_run_id()
    ctx = RunContext(project, store, target, run_id)
    ctx.load_pii_key()
    tables = {t.qualified_name: t for d in project.domains for t in d.tables}
    by_period: dict[tuple[str, str], list[ScrubbedFile]] = {}
    for file in files:
        by_period.setdefault((file.table, file.period), []).append(file)
    outcomes = []
    for (name, period), damaged in sorted(by_period.items()):
        old = [f for f in damaged if not f.current]
        outcomes += [Repair(f.path, False, "named only by an older manifest version, which one export cannot "
                            "reproduce: restore it from a copy") for f in old]
        current = [f for f in damaged if f.current]
        if current:
            outcomes += _repair_period(ctx, tables[name], period, current)
    if any(o.repaired for o in outcomes):
        record_head(store, project.root, project.name)
    return outcomes


def _repair_period(ctx: RunContext, table: Table, period: str, damaged: list[ScrubbedFile]) -> list[Repair]:
    stored = archived_periods(ctx.store, table.domain, table.name)[period].stored
    project = ctx.project
    source = project.source_of_table(table)
    unit = period_unit(project, table, period, stored.manifest)
    unit = replace(unit, status="changed", reason="scrub repair", archived_version=stored.manifest.version)
    unit = replace(unit, stages=stages_for(unit, table, source))
    with tempfile.TemporaryDirectory(prefix="archival-repair-") as scratch:
        parts = produce_parts(ctx, unit, Path(scratch))
        outcomes = []
        for file in damaged:
            part = parts.get(file.sha256)
            if part is None:
                outcomes.append(Repair(file.path, False, f"the source no longer reproduces it ({len(parts)} part(s) "
                                       "exported, none with its sha256): its rows changed, left the source or were "
                                       "purged, or the period has several versions; restore it from a copy"))
                continue
            moved = None
            if ctx.store.exists(file.path):
                moved = orphan_path(ctx.run_id, file.path)
                ctx.store.move(file.path, moved)
            ctx.store.put_file(file.path, part, file.sha256, tier=stored.manifest.storage_tier)
            audit.append(ctx.store, {"action": "repair", "run_id": ctx.run_id, "file": file.path,
                                     "sha256": file.sha256, "archived_manifest": file.manifest,
                                     "damaged_moved_to": moved, "reason": "scrub: reproduced from the source",
                                     "at": datetime.now(UTC).isoformat(timespec="seconds")})
            outcomes.append(Repair(file.path, True, "reproduced byte for byte from the source"
                                   + (f"; the damaged bytes are in {moved}" if moved else "")))
    return outcomes

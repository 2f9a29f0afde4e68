"""Export one unit: run its stage list (the one `archival plan -v` shows) and return what it did.

    snapshot -> read -> [versions] -> [departures] -> contract -> [pii] -> [replace] -> fingerprint -> parts -> record

A MySQL table read whole is first read in its clustered index's order (no sort before the first row,
extract/query.py); if the rows break key order, everything of that attempt is discarded and the unit
reads again, sorted."""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path

import duckdb

from archival.archive.fingerprint import RowFingerprint
from archival.archive.manifest import SchemaColumn
from archival.archive.store import ArchiveUnavailable, LocalStore
from archival.check.contract import ContractStage
from archival.extract.rows_read import RowsRead
from archival.extract.snapshot import KeyOrderError
from archival.plan import stages as st
from archival.plan.units import ExportUnit, UnitResult
from archival.record.commit import Committed, Produced, UnitCommit
from archival.record.lineage import LineageEmitter
from archival.record.next_manifest import UnitOutput
from archival.run.context import RunContext
from archival.run.errors import DiskFull, disk_full
from archival.run.interrupt import STOP, Interrupted
from archival.run.pipeline import UnitRun
from archival.source.namespace import source_namespace
from archival.write.delta import VersionFilter
from archival.write.departures import TableDepartures, next_census
from archival.write.parts import PartsStage
from archival.write.replace import VersionReplace


def export_unit(ctx: RunContext, unit: ExportUnit, lineage: LineageEmitter | None = None,
                connection: duckdb.DuckDBPyConnection | None = None) -> UnitResult:
    """`connection`: a transaction the unit shares with related units (plan/stage_list.py)."""
    started = time.perf_counter()
    if lineage:
        lineage.start(unit.id, unit.qualified_table)
    try:
        return _attempt(ctx, unit, unit.stages, lineage, started, connection)
    except KeyOrderError as exc:
        sorted_read = tuple(replace(s, clustered=False) if isinstance(s, st.Snapshot) else s for s in unit.stages)
        result = _attempt(ctx, unit, sorted_read, lineage, started, connection)
        result.details["read_again_sorted"] = str(exc)  # the first read cost time: say why
        return result


def _attempt(ctx: RunContext, unit: ExportUnit, stages: tuple[st.Stage, ...], lineage: LineageEmitter | None,
             started: float, connection: duckdb.DuckDBPyConnection | None) -> UnitResult:
    snapshot, *stream, record = stages
    assert isinstance(snapshot, st.Snapshot) and isinstance(record, st.Record)
    try:
        with UnitRun(ctx, unit, connection) as run:
            run.open_snapshot(snapshot)
            for stage in stream:
                run.build(stage)
            run.drive()
            produced, out = _results(run)
            run.source_stack.close()  # the source transaction ends before anything is published
            if run.spool is not None:
                with run.clock.stage("upload"):  # what the spool has not put yet, while the unit read
                    produced = replace(produced, uploaded=run.spool.finish())
            with run.clock.stage("record"):
                namespace = source_namespace(run.source, ctx.project.root) if lineage else None
                committed = UnitCommit(ctx.store, unit, run.domain, run.table, run.source, ctx.run_id, run.work,
                                       run.current, run.reference, ctx.completed_runs,
                                       namespace).commit(produced, out, lineage)
            return _result(unit, committed, time.perf_counter() - started, run.clock.rounded())
    except Exception as exc:
        if lineage and not isinstance(exc, KeyOrderError):  # that one is retried, sorted
            lineage.fail(unit.id, unit.qualified_table, str(exc))
        if disk_full(exc) and not isinstance(exc, ArchiveUnavailable):  # the store names its own file
            raise DiskFull(_disk_full_message(ctx, unit)) from None
        if STOP.requested and not isinstance(exc, Interrupted):  # a query the stop interrupted
            raise Interrupted(STOP.reason) from exc
        raise


def produce_parts(ctx: RunContext, unit: ExportUnit, out: Path) -> dict[str, Path]:
    """Run a unit's stages up to its parts and publish nothing: sha256 -> a copy in `out` of every data
    and quarantine part it writes (`archival scrub --repair` compares them with the archive)."""
    snapshot, *stream, _record = unit.stages
    assert isinstance(snapshot, st.Snapshot)
    copies: dict[str, Path] = {}
    with UnitRun(ctx, unit, uploads=False) as run:
        run.open_snapshot(snapshot)
        for stage in stream:
            run.build(stage)
        run.drive()
        produced, _ = _results(run)
        for part in [*produced.parts, *produced.quarantined]:
            copies[part.sha256] = Path(shutil.copy(part.path, out / part.sha256))
    return copies


def _disk_full_message(ctx: RunContext, unit: ExportUnit) -> str:
    local = isinstance(ctx.store, LocalStore)
    where = f"on the file system of target '{ctx.target}'" if local else "under TMPDIR"
    fix = "free space and run again" if local else "free space or point TMPDIR at a larger disk, and run again"
    return (f"{unit.id}: no space left on device in the run's scratch folder {ctx.work_root} ({where}): {fix}; "
            "nothing of this unit was published")


def _results(run: UnitRun) -> tuple[Produced, UnitOutput]:
    """What the stream produced: local files for the record stage, and the facts for the manifest."""
    read, fingerprint = run.find(RowsRead), run.find(RowFingerprint)
    contract, parts, versions = run.find(ContractStage), run.find(PartsStage), run.find(VersionFilter)
    departures = next((t for t in run.chain if t.name == "departures"), None)
    found = departures.found if departures is not None else None
    census = None
    if isinstance(departures, TableDepartures):
        census = next_census(found, (a.path for p, a in run.archived.items() if p != run.unit.period),
                             run.purge_basis)
    quarantined = run.quarantine.close() if run.quarantine is not None else []
    replaced = run.find(VersionReplace)
    produced = Produced(parts.parts, quarantined, found.keys if found else None, read.rows, versions is not None,
                        carried=replaced.carried if replaced else 0,
                        set_aside_before=run.sink.skipped if run.sink else 0)
    snap = run.snapshot
    out = UnitOutput(files=[], tombstones=[], quarantine=[], fingerprint=fingerprint.value,
                     fingerprint_algorithm=fingerprint.algorithm,
                     schema=[SchemaColumn(name=f.name, type=str(f.type), nullable=f.nullable) for f in run.pii.schema],
                     reads=snap.reads, source_rows=snap.source_row_count, rows_new=fingerprint.rows,
                     max_cursor=read.max_cursor, read_strategy=snap.query.strategy, violations=contract.violations,
                     contract_recorded=contract.checker.recorded, key_checksum=read.key_checksum, key_census=census)
    return produced, out


def _result(unit: ExportUnit, committed: Committed, seconds: float, stages: dict[str, float]) -> UnitResult:
    out, details = committed.output, {}
    if out.schema_change:
        details["schema_change"] = out.schema_change.model_dump()
    if out.violations:
        details["violations"] = dict(out.violations)
    tombstoned = sum(t.rows for t in out.tombstones)
    if tombstoned:
        details["tombstoned"] = tombstoned
    if committed.set_aside:
        details["set_aside"] = committed.set_aside
    quarantined = sum(q.rows for q in out.quarantine)
    if quarantined:
        details["quarantined"] = quarantined  # rows this unit set aside as invalid (the metrics count them)
    if unit.refresh:
        details["refresh"] = unit.refresh
    published = committed.published
    return UnitResult(unit.id, "written" if published.written else "unchanged", out.rows_new, committed.new_bytes,
                      committed.new_files, seconds, published.path, published.version, details=details, stages=stages)


__all__ = ["UnitResult", "export_unit"]

"""Export one unit: snapshot -> (new versions only) -> PII -> fingerprint + parts -> publish files ->
manifest -> audit.

Two ways to fill a period:
- snapshot: the whole period (full tables, `period=null`, a period's first export, or a spec change);
- delta: the period is archived under this spec; only row versions it does not hold yet become a new
  part, which the next manifest version appends to the old files (and window mode records keys that
  left the source as tombstones). Nothing archived is ever rewritten.

Publishing order makes the manifest the commit point: files first (create-only, content-named, so a
rerun after a crash finds identical files and adopts them), then the manifest, then the audit entry."""

from __future__ import annotations

import json
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from archival.archive import layout
from archival.archive.fingerprint import KeyChecksum, RowFingerprint, combine
from archival.archive.state import ArchivedPeriod, archived_periods
from archival.check.contract import ContractChecker, ContractError, sample_message
from archival.check.keys import KeyRuns
from archival.check.registry import load_project_checks
from archival.extract.snapshot import ExtractError, KeyOrderError, open_snapshot
from archival.plan.compile import NULL_PERIOD, OUT_OF_RANGE, SPECIAL_PERIODS
from archival.plan.units import ExportUnit
from archival.record import audit
from archival.record.body import manifest_body, schema_diff
from archival.record.lineage import LineageEmitter
from archival.record.manifest import publish_manifest
from archival.run.context import RunContext
from archival.run.stages import StageClock
from archival.source.types import scale_floor
from archival.spec.model import Table
from archival.write.delta import VersionFilter, local_paths
from archival.write.departures import Departures, departed_keys, next_census, valid_census
from archival.write.parts import EXTENSIONS, PartWriter
from archival.write.pii import PiiTransform

Outcome = Literal["written", "unchanged", "failed", "deferred"]


@dataclass
class UnitResult:
    unit_id: str
    outcome: Outcome
    rows: int = 0
    bytes: int = 0
    files: int = 0
    seconds: float = 0.0
    manifest: str | None = None
    version: int | None = None
    error: str | None = None
    error_class: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage (run/stages.py)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


class UnitIntegrityError(Exception):
    """What was read does not match what the source snapshot counted (nothing is published)."""


class DataPolicyError(Exception):
    """The data breaks a declared policy (NULL cursor under `fail`, drift under `freeze`)."""


def _max_cursor(batch: pa.RecordBatch, table: Table) -> datetime | None:
    if not table.cursor or batch.num_rows == 0:
        return None
    values = [batch.column(batch.schema.get_field_index(c)) for c in table.cursor]
    top = (pc.coalesce(*values) if len(values) > 1 else values[0])
    top = pc.max(top).as_py()
    if top is None:
        return None
    if isinstance(top, datetime):
        return (top if top.tzinfo else top.replace(tzinfo=ZoneInfo(table.timezone))).astimezone(UTC)
    return datetime(top.year, top.month, top.day, tzinfo=ZoneInfo(table.timezone)).astimezone(UTC)


def _reference_schema(ctx: RunContext, unit: ExportUnit, archived: dict[str, ArchivedPeriod]) -> tuple[str, list]:
    """The schema to compare against for drift: this period's current manifest, else the table's latest."""
    current = archived.get(unit.period) or (archived[max(archived)] if archived else None)
    if current is None:
        return "", []
    return current.path, json.loads(ctx.store.read_bytes(current.path)).get("schema", [])


def out_of_range_reason(table: Table) -> str:
    return f"cursor ({', '.join(table.cursor)}): outside the plausible range"


def _publish_parts(ctx: RunContext, parts, folder: str, first_index: int, table: Table) -> list[dict[str, Any]]:
    entries = []
    for offset, part in enumerate(parts):
        name = layout.part_name(first_index + offset, part.sha256, EXTENSIONS[table.format])
        ctx.store.put_file(f"{folder}/{name}", part.path, part.sha256, tier=table.tier)
        entries.append({"path": f"{folder}/{name}", "rows": part.rows, "bytes": part.bytes, "sha256": part.sha256})
    return entries


def export_unit(ctx: RunContext, unit: ExportUnit, lineage: LineageEmitter | None = None) -> UnitResult:
    """A MySQL table read whole is first read in its clustered index's order (no sort before the first
    row, extract/query.py); if the rows break key order, everything of that attempt is discarded and
    the unit reads again, sorted."""
    started = time.perf_counter()
    if lineage:
        lineage.start(unit.id, f"{unit.domain}.{unit.table}")
    try:
        return _export(ctx, unit, lineage, started, clustered=True)
    except KeyOrderError as exc:
        result = _export(ctx, unit, lineage, started, clustered=False)
        result.details["read_again_sorted"] = str(exc)  # the first read cost time: say why
        return result


def _export(ctx: RunContext, unit: ExportUnit, lineage: LineageEmitter | None, started: float,
            clustered: bool) -> UnitResult:
    domain = ctx.project.domain(unit.domain)
    assert domain is not None
    table = domain.table(unit.table)
    assert table is not None
    source = ctx.project.source_of(domain)
    job = f"{unit.domain}.{unit.table}"
    work = ctx.work_root / unit.id.replace("/", "__")
    work.mkdir(parents=True, exist_ok=True)
    writers: list[PartWriter] = []
    clock = StageClock()
    try:
        archived = archived_periods(ctx.store, unit.domain, unit.table)
        current = archived.get(unit.period)
        old = json.loads(ctx.store.read_bytes(current.path)) if current else None
        delta = (old is not None and unit.mode != "full" and unit.period not in SPECIAL_PERIODS
                 and current.spec_sha256 == unit.spec_sha256)
        reference, ref_schema = _reference_schema(ctx, unit, archived)
        with ExitStack() as stack, open_snapshot(source, ctx.project.root, table, unit,
                                                 batch_rows=ctx.tuning.batch_rows,
                                                 memory_limit=ctx.tuning.memory_limit, threads=ctx.tuning.threads,
                                                 shared_snapshot=ctx.shared_snapshots.get(source.name),
                                                 clustered=clustered, scale_floor=scale_floor(ref_schema)) as snap:
            if unit.period == NULL_PERIOD and table.null_cursor == "fail":
                raise DataPolicyError(f"{table.location}: {snap.source_row_count} row(s) of "
                                      f"{table.qualified_name} have a NULL cursor and null_cursor is 'fail'")
            versions = None
            if delta:
                since = unit.window.start if unit.mode == "incremental" and unit.window else None
                # quarantined versions count as seen: a row set aside stays aside until its version changes
                seen = [f["path"] for f in [*old["files"], *old.get("quarantine", [])]]
                versions = VersionFilter(table, local_paths(stack, ctx.store, seen),
                                         local_paths(stack, ctx.store, [t["path"] for t in old.get("tombstones", [])]),
                                         _naive_if_needed(since, snap, table), threads=ctx.tuning.threads)
            pii = PiiTransform(table, snap.arrow_schema, ctx.pii_key, threads=ctx.tuning.threads)
            load_project_checks(ctx.project.root)
            checker = ContractChecker(table, snap.arrow_schema, out_of_range_reason(table)
                                      if unit.period == OUT_OF_RANGE else None)
            key_runs = KeyRuns(table.primary_key)
            quarantine = PartWriter(work / "quarantine", "parquet", pa.schema([*pii.schema, pa.field("_reasons",
                                    pa.string())]), row_group_rows=ctx.tuning.row_group_rows,
                                    target_file_bytes=ctx.tuning.target_file_bytes)
            writers.append(quarantine)
            writer = PartWriter(work / "parts", table.format, pii.schema, row_group_rows=ctx.tuning.row_group_rows,
                                target_file_bytes=ctx.tuning.target_file_bytes)
            writers.append(writer)
            fingerprint = RowFingerprint(threads=ctx.tuning.threads)
            # window periods hold an immutable set of keys: their checksum lets the plan see late rows and deletes
            keys = KeyChecksum() if unit.mode == "window" and unit.window is not None else None
            max_cursor, read = None, 0
            new_keys: list[pa.Table] = []

            def sink(batch: pa.RecordBatch, duplicated: pa.Array) -> None:
                with clock.stage("contract"):
                    verdict = checker.check(batch, duplicated, key_runs.reason)
                if verdict.bad is not None:
                    if table.on_invalid == "fail":
                        raise ContractError(f"{table.location}: {sample_message(table, verdict.bad)}; "
                                            "on_invalid is 'fail', nothing was published")
                    if table.on_invalid == "quarantine":
                        batch = verdict.good
                        reasons = verdict.bad.column("_reasons")
                        for bad in pa.Table.from_arrays(verdict.bad.columns[:-1], names=verdict.bad.column_names[:-1]
                                                        ).to_batches():
                            safe = pii.apply(bad)  # PII rules hold in quarantine too
                            quarantine.write(pa.RecordBatch.from_arrays(
                                [*safe.columns, reasons.slice(0, safe.num_rows).combine_chunks()],
                                schema=quarantine.schema))
                            reasons = reasons.slice(safe.num_rows)
                with clock.stage("pii"):
                    batch = pii.apply(batch)
                with clock.stage("fingerprint"):
                    fingerprint.add(batch)
                with clock.stage("write"):
                    writer.write(batch)

            for batch in clock.timed("read", snap.batches):
                read += batch.num_rows
                if keys is not None:
                    keys.add(batch, list(table.primary_key))
                top = _max_cursor(batch, table)
                max_cursor = top if max_cursor is None or (top and top > max_cursor) else max_cursor
                if versions is not None:
                    batch = versions.new_versions(batch)
                if unit.detect_deletes:
                    new_keys.append(pa.Table.from_batches([batch]).select(list(table.primary_key)))
                for released, duplicated in key_runs.feed(batch):
                    sink(released, duplicated)
            for released, duplicated in key_runs.finish():
                sink(released, duplicated)
            with clock.stage("write"):
                parts = writer.close()
            quarantined = quarantine.close()
            checker.close()
            departed = versions.departed_keys() if versions is not None and unit.mode == "window" else None
            census = None
            if unit.detect_deletes:
                found = _incremental_departures(ctx, stack, unit, table, archived, snap, source.type, new_keys)
                departed = found.keys
                census = next_census(found, (a.path for p, a in archived.items() if p != unit.period))
            for closer in (fingerprint, pii, versions, keys):
                if closer is not None:
                    closer.close()
            source_rows, strategy, reads = snap.source_row_count, snap.query.strategy, snap.reads
        if read != source_rows or fingerprint.rows != sum(p.rows for p in parts) or (
                versions is None and fingerprint.rows + sum(q.rows for q in quarantined) != read):
            raise UnitIntegrityError(f"{unit.id}: the source snapshot counted {source_rows} rows but {read} were "
                                     "read; nothing was published")
        schema = [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in pii.schema]
        diff = schema_diff(ref_schema, schema) if ref_schema else None
        changed_schema = diff is not None and any(diff.values())
        if changed_schema and table.drift == "freeze":
            raise DataPolicyError(f"{table.location}: schema of {table.relation} drifted and drift is 'freeze': "
                                  + "; ".join(f"{k} {', '.join(v)}" for k, v in diff.items() if v))

        folder = layout.period_dir(unit.domain, unit.table, unit.period)
        old_files = old["files"] if delta else []
        with clock.stage("publish"):
            files = old_files + _publish_parts(ctx, parts, folder, len(old_files), table)
        tombstones = list(old.get("tombstones", [])) if delta else []
        if departed is not None and departed.num_rows:
            tomb = PartWriter(work / "tombstones", "parquet", departed.schema, target_file_bytes=1 << 40,
                              row_group_rows=max(departed.num_rows, 1))
            writers.append(tomb)
            for b in departed.to_batches():
                tomb.write(b)
            tomb_folder = f"{layout.table_prefix(unit.domain, unit.table)}/_tombstones/period={unit.period}"
            tombstones += _publish_parts(ctx, tomb.close(), tomb_folder, len(tombstones), table)
        value = combine(old["fingerprint"]["value"], fingerprint.value) if delta else fingerprint.value
        quarantine_folder = layout.quarantine_dir(unit.domain, unit.table, unit.period)
        set_aside = (list(old.get("quarantine", [])) if delta else []) + _publish_parts(
            ctx, quarantined, quarantine_folder, len(old.get("quarantine", [])) if delta else 0, table)
        violations = dict(checker.totals)
        if delta and old.get("contract"):
            for reason, n in old["contract"].get("violations", {}).items():
                violations[reason] = violations.get(reason, 0) + n
        summary = {"row_count": source_rows, "rows_new": fingerprint.rows,
                   "max_cursor": max_cursor.isoformat() if max_cursor else None, "read_strategy": strategy}
        body = manifest_body(unit=unit, table=table, source=source, run_id=ctx.run_id, schema=schema, files=files,
                             tombstones=tombstones, fingerprint=value, source_summary=summary,
                             schema_change={"compared_with": reference, **diff} if changed_schema else None,
                             key_checksum=keys.value if keys is not None else None, quarantine=set_aside,
                             contract={"on_invalid": table.on_invalid, "violations": violations}
                             if checker.recorded else None, key_census=census,
                             source_schema=[{"name": r.name, "source_type": r.column.native_type,
                                             "nullable": r.column.nullable, "rule": r.rule} for r in reads])
        with clock.stage("publish"):
            published = publish_manifest(ctx.store, body, current)
        if published.written:
            audit.append(ctx.store, {"action": "publish", "run_id": ctx.run_id, "unit": unit.id,
                                     "manifest": published.path, "manifest_sha256": published.sha256,
                                     "at": body["created_at"]})
        new_bytes = sum(p.bytes for p in parts)
        if lineage:
            lineage.complete(unit.id, job, f"{unit.domain}/{unit.table}/period={unit.period}",
                             [(s["name"], s["type"]) for s in schema], fingerprint.rows, new_bytes, len(parts))
        details = {"schema_change": body.get("schema_change")} if changed_schema else {}
        if checker.totals:
            details["violations"] = dict(checker.totals)
        if departed is not None and departed.num_rows:
            details["tombstoned"] = departed.num_rows
        return UnitResult(unit.id, "written" if published.written else "unchanged", fingerprint.rows, new_bytes,
                          len(parts), time.perf_counter() - started, published.path, published.version,
                          details=details, stages=clock.rounded())
    except Exception as exc:
        for writer in writers:
            writer.abort()
        if lineage and not isinstance(exc, KeyOrderError):  # that one is retried, sorted
            lineage.fail(unit.id, job, str(exc))
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _incremental_departures(ctx: RunContext, stack: ExitStack, unit: ExportUnit, table: Table,
                            archived: dict[str, ArchivedPeriod], snap, source_type: str,
                            new_keys: list[pa.Table]) -> Departures:
    manifests = {a.path: json.loads(ctx.store.read_bytes(a.path)) for a in archived.values()}
    files = local_paths(stack, ctx.store, [f["path"] for m in manifests.values() for f in m["files"]])
    tombs = local_paths(stack, ctx.store, [t["path"] for m in manifests.values() for t in m.get("tombstones", [])])
    added = pa.concat_tables(new_keys) if new_keys else None
    return departed_keys(table.primary_key, files, tombs, snap.count_all(source_type, table.relation),
                         lambda: snap.all_keys(table.relation, table.primary_key), added, valid_census(manifests))


def _naive_if_needed(since: datetime | None, snap, table: Table) -> datetime | None:
    """The lookback bound in the cursor column's own terms: naive columns hold wall time of the zone."""
    if since is None:
        return None
    first = next(c for c in snap.columns if c.name == table.cursor[0])
    if first.is_naive_timestamp:
        return since.astimezone(ZoneInfo(table.timezone)).replace(tzinfo=None)
    return since


def failed_result(unit: ExportUnit, exc: BaseException, seconds: float, error_class: str) -> UnitResult:
    return UnitResult(unit.id, "failed", seconds=seconds, error=f"{type(exc).__name__}: {exc}",
                      error_class=error_class)


__all__ = ["DataPolicyError", "ExtractError", "UnitIntegrityError", "UnitResult", "export_unit", "failed_result"]

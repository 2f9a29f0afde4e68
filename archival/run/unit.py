"""Export one unit: snapshot -> PII -> fingerprint + parts -> publish files -> manifest -> audit.

Publishing order makes the manifest the commit point: files first (create-only, content-named, so
a rerun after a crash finds identical files and adopts them), then the manifest version, then the
audit entry. A failure anywhere before the manifest leaves no manifest and no watermark move; temp
files are removed."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from archival.archive import layout
from archival.archive.fingerprint import ALGORITHM, RowFingerprint
from archival.archive.state import archived_periods
from archival.extract.snapshot import ExtractError, open_snapshot
from archival.plan.units import ExportUnit
from archival.record import audit
from archival.record.lineage import LineageEmitter
from archival.record.manifest import publish_manifest
from archival.run.context import RunContext
from archival.spec.model import Table
from archival.write.parts import EXTENSIONS, PartWriter
from archival.write.pii import PiiTransform

Outcome = Literal["written", "unchanged", "failed", "skipped"]


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

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


class UnitIntegrityError(Exception):
    """What was written does not match what the source snapshot said (nothing is published)."""


def _max_cursor(batch: pa.RecordBatch, table: Table) -> datetime | None:
    if not table.cursor:
        return None
    values = [batch.column(batch.schema.get_field_index(c)) for c in table.cursor]
    merged = pc.coalesce(*values) if len(values) > 1 else values[0]
    top = pc.max(merged).as_py()
    if top is None:
        return None
    if isinstance(top, datetime):
        return (top if top.tzinfo else top.replace(tzinfo=ZoneInfo(table.timezone))).astimezone(UTC)
    return datetime(top.year, top.month, top.day, tzinfo=ZoneInfo(table.timezone)).astimezone(UTC)


def export_unit(ctx: RunContext, unit: ExportUnit, lineage: LineageEmitter | None = None) -> UnitResult:
    started = time.perf_counter()
    domain = ctx.project.domain(unit.domain)
    assert domain is not None
    table = domain.table(unit.table)
    assert table is not None
    source = ctx.project.source_of(domain)
    job = f"{unit.domain}.{unit.table}"
    if lineage:
        lineage.start(unit.id, job)
    work = ctx.work_root / unit.id.replace("/", "__")
    work.mkdir(parents=True, exist_ok=True)
    writer: PartWriter | None = None
    try:
        with open_snapshot(source, ctx.project.root, table, unit, batch_rows=ctx.tuning.batch_rows,
                           temp_dir=work / "duckdb", memory_limit=ctx.tuning.memory_limit,
                           threads=ctx.tuning.threads) as snap:
            pii = PiiTransform(table, snap.arrow_schema, ctx.pii_key, threads=ctx.tuning.threads)
            schema = pii.schema
            writer = PartWriter(work / "parts", table.format, schema, target_file_bytes=ctx.tuning.target_file_bytes,
                                row_group_rows=ctx.tuning.row_group_rows)
            fingerprint = RowFingerprint()
            max_cursor: datetime | None = None
            for batch in snap.batches:
                top = _max_cursor(batch, table)
                max_cursor = top if max_cursor is None or (top and top > max_cursor) else max_cursor
                batch = pii.apply(batch)
                fingerprint.add(batch)
                writer.write(batch)
            parts = writer.close()
            fingerprint.close()
            pii.close()
            source_rows, strategy = snap.source_row_count, snap.query.strategy
        written_rows = sum(p.rows for p in parts)
        if written_rows != source_rows or fingerprint.rows != source_rows:
            raise UnitIntegrityError(f"{unit.id}: the source snapshot counted {source_rows} rows but "
                                     f"{written_rows} were written; nothing was published")

        files = []
        for index, part in enumerate(parts):
            path = f"{layout.period_dir(unit.domain, unit.table, unit.period)}/" \
                   f"{layout.part_name(index, part.sha256, EXTENSIONS[table.format])}"
            ctx.store.put_file(path, part.path, part.sha256, tier=table.tier)
            files.append({"path": path, "rows": part.rows, "bytes": part.bytes, "sha256": part.sha256})

        body = {
            "domain": unit.domain, "table": unit.table, "period": unit.period, "mode": unit.mode,
            "window": None if unit.window is None else {
                "column": unit.window.columns[0] if len(unit.window.columns) == 1
                else f"coalesce({', '.join(unit.window.columns)})",
                "columns": list(unit.window.columns), "start": unit.window.start.isoformat(),
                "end": unit.window.end.isoformat()},
            "source": {"name": source.name, "type": source.type, "relation": table.relation},
            "spec_sha256": unit.spec_sha256, "format": table.format, "timezone": table.timezone,
            "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema],
            "files": files, "row_count": written_rows,
            "fingerprint": {"algorithm": ALGORITHM, "value": fingerprint.value},
            "source_summary": {"row_count": source_rows, "max_cursor": max_cursor.isoformat() if max_cursor else None,
                               "read_strategy": strategy},
            "quarantined_rows": 0,
            "pii": {c.name: c.pii for c in table.columns if c.pii},
            "watermark": unit.window.end.isoformat() if unit.window else None,
            "run_id": ctx.run_id, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        current = archived_periods(ctx.store, unit.domain, unit.table).get(unit.period)
        published = publish_manifest(ctx.store, body, current)
        if published.written:
            audit.append(ctx.store, {"action": "publish", "run_id": ctx.run_id, "unit": unit.id,
                                     "manifest": published.path, "manifest_sha256": published.sha256,
                                     "at": body["created_at"]})
        size = sum(f["bytes"] for f in files)
        if lineage:
            lineage.complete(unit.id, job, f"{unit.domain}/{unit.table}/period={unit.period}",
                             [(s["name"], s["type"]) for s in body["schema"]], written_rows, size, len(files))
        return UnitResult(unit.id, "written" if published.written else "unchanged", written_rows, size, len(files),
                          time.perf_counter() - started, published.path, published.version)
    except Exception as exc:
        if writer is not None:
            writer.abort()
        if lineage:
            lineage.fail(unit.id, job, str(exc))
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def failed_result(unit: ExportUnit, exc: BaseException, seconds: float, error_class: str) -> UnitResult:
    return UnitResult(unit.id, "failed", seconds=seconds, error=f"{type(exc).__name__}: {exc}",
                      error_class=error_class)


__all__ = ["ExtractError", "UnitIntegrityError", "UnitResult", "export_unit", "failed_result"]

"""`archival reconcile`: does each archived period match its source rows?

For every selected period the source side is read through the export's own path (the same query,
types and PII rules, in one snapshot), the archive side from the current manifest's files (minus
tombstoned keys; quarantined keys are reported apart). Rows are normalised by DuckDB's to_json and
hashed per primary key on both sides; one join then names the keys that are missing from the
archive, extra in it, or different. The counts and sum-md5-json-v1 fingerprints are reported too.

Why not bisect key ranges like hashdiff: bisecting saves transfer only when each side can compute
range checksums where its data lives. The source side must be normalised exactly like the archive
(DuckDB's types and JSON), so its rows pass through DuckDB once either way; one keyed pass then finds
every differing key at the cost of a single read."""

from __future__ import annotations

import json
import tempfile
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import duckdb

from archival.archive.read import file_reader
from archival.archive.state import archived_periods
from archival.archive.store import ArchiveStore
from archival.chunks import arrow_chunks
from archival.extract.snapshot import open_snapshot
from archival.plan.compile import OUT_OF_RANGE, SPECIAL_PERIODS
from archival.plan.periods import parse_label
from archival.plan.units import ExportUnit, Window
from archival.source.cursor import cursor_expr
from archival.source.types import scale_floor
from archival.spec.model import Project, Table, table_fingerprint
from archival.sql import quote_ident, sql_literal
from archival.verify.relations import RelationReport, check_relations
from archival.write.pii import PiiTransform

Status = Literal["ok", "mismatch"]
SAMPLE = 20


@dataclass
class PeriodReport:
    table: str
    period: str
    source_rows: int
    archive_rows: int
    missing: int = 0
    extra: int = 0
    different: int = 0
    quarantined: int = 0
    missing_keys: list = field(default_factory=list)
    extra_keys: list = field(default_factory=list)
    different_keys: list = field(default_factory=list)

    @property
    def status(self) -> Status:
        return "ok" if not (self.missing or self.extra or self.different) else "mismatch"


def _unit(project: Project, table: Table, label: str, manifest: dict) -> ExportUnit:
    domain = project.domain(table.domain)
    assert domain is not None
    source = project.source_of(domain)
    window = None
    if label == OUT_OF_RANGE:  # the range that export used: the same rows, if the source kept them
        bounds = manifest["window"]
        window = Window(table.cursor, datetime.fromisoformat(bounds["start"]), datetime.fromisoformat(bounds["end"]))
    elif label != "full" and label not in SPECIAL_PERIODS and table.period:
        period = parse_label(label, table.period, domain.timezone)
        window = Window(table.cursor, period.start, period.end)
    return ExportUnit(table.domain, table.name, label, table.mode, source.name, table_fingerprint(table, source),
                      "refresh", "reconcile", window)


def _keys_sql(table: Table, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + quote_ident(k) for k in table.primary_key)


def _files(paths: list[Path]) -> str:
    return "[" + ", ".join(sql_literal(str(p)) for p in paths) + "]"


def reconcile_period(project: Project, store: ArchiveStore, table: Table, label: str, manifest: dict,
                     pii_key: bytes | None, work: Path, tombstones: list[dict] | None = None,
                     table_files: list[dict] | None = None) -> PeriodReport:
    """`tombstones`: for incremental tables, those of every period (a key's delete is recorded in the
    period where it was seen gone, its versions stay where their cursors put them)."""
    con = duckdb.connect()
    # a row hash per key on both sides: bounded memory, the rest spills to the work folder
    con.execute(f"SET temp_directory = {sql_literal(str(work / 'reconcile-spill'))}")
    con.execute("SET memory_limit = '512MB'")
    keys = _keys_sql(table)
    try:
        unit = _unit(project, table, label, manifest)
        domain = project.domain(table.domain)
        assert domain is not None
        with open_snapshot(project.source_of(domain), project.root, table, unit, batch_rows=65_536,
                           scale_floor=scale_floor(manifest.get("schema", []))) as snap:
            pii = PiiTransform(table, snap.arrow_schema, pii_key)
            columns = ", ".join(quote_ident(n) for n in pii.schema.names)
            hashed = f"SELECT {keys}, md5_number(to_json(b)::VARCHAR) AS h FROM (SELECT {columns} FROM {{}}) b"
            con.register("src_batch", pii.schema.empty_table())
            con.execute("CREATE TABLE src AS " + hashed.format("src_batch"))
            for batch in snap.batches:
                con.register("src_batch", arrow_chunks(pii.apply(batch)))  # hashes on every thread
                con.execute("INSERT INTO src " + hashed.format("src_batch"))
            con.unregister("src_batch")
            pii.close()
        with ExitStack() as stack:
            def local(entries: list[dict]) -> list[Path]:
                return [stack.enter_context(store.local_copy(e["path"])) for e in entries]

            files = local(manifest.get("files", []))
            dead = local(tombstones if tombstones is not None else manifest.get("tombstones", []))
            quarantine = local(manifest.get("quarantine", []))
            present = list(pii.schema.names)
            if files:
                if manifest.get("format") == "csv":
                    read = file_reader("csv", [str(f) for f in files], manifest.get("schema"))
                else:
                    read = f"read_parquet({_files(files)}, hive_partitioning=false, union_by_name=true)"
                projection = ", ".join(quote_ident(n) for n in present)
                rows = f"SELECT {projection} FROM {read}"
                if table.mode == "incremental":
                    # the archive keeps versions, the source only the latest: keep the rows of this period that
                    # are their key's latest version across the whole table (a newer one may sit in a later period)
                    cursor = "coalesce(" + ", ".join(quote_ident(c) for c in table.cursor) + ")" \
                        if len(table.cursor) > 1 else quote_ident(table.cursor[0])
                    everything = local(table_files or manifest.get("files", []))
                    con.execute(f"CREATE TABLE latest AS SELECT {keys}, max({cursor}) AS __c FROM read_parquet("
                                f"{_files(everything)}, hive_partitioning=false, union_by_name=true) GROUP BY ALL")
                    on = " AND ".join(f"p.{quote_ident(k)} = l.{quote_ident(k)}" for k in table.primary_key)
                    p_cursor = cursor_expr(table.cursor, lambda n: f"p.{quote_ident(n)}")
                    rows = (f"SELECT {', '.join('p.' + quote_ident(n) for n in present)} FROM {read} p "
                            f"SEMI JOIN latest l ON {on} AND {p_cursor} = l.__c")
                con.execute(f"CREATE TABLE arc AS SELECT {keys}, md5_number(to_json(b)::VARCHAR) AS h FROM ({rows}) b")
            else:
                con.execute(f"CREATE TABLE arc AS SELECT {keys}, h FROM src WHERE false")
            if dead:
                con.execute(f"DELETE FROM arc WHERE ({keys}) IN (SELECT ({keys}) FROM "
                            f"read_parquet({_files(dead)}))")
            if quarantine:
                con.execute(f"CREATE TABLE q AS SELECT DISTINCT {keys} FROM read_parquet({_files(quarantine)})")
            else:
                con.execute(f"CREATE TABLE q AS SELECT {keys} FROM src WHERE false")
        join = " AND ".join(f"s.{quote_ident(k)} = a.{quote_ident(k)}" for k in table.primary_key)
        q_join = " AND ".join(f"x.{quote_ident(k)} = q.{quote_ident(k)}" for k in table.primary_key)
        s_keys, a_keys = _keys_sql(table, "s"), _keys_sql(table, "a")
        report = PeriodReport(table.qualified_name, label, con.execute("SELECT count(*) FROM src").fetchone()[0],
                              con.execute("SELECT count(*) FROM arc").fetchone()[0])
        missing = f"SELECT {s_keys} FROM src s ANTI JOIN arc a ON {join}"
        missing = f"SELECT * FROM ({missing}) x ANTI JOIN q ON {q_join}"
        extra = f"SELECT {a_keys} FROM arc a ANTI JOIN src s ON {join}"
        different = f"SELECT {s_keys} FROM src s JOIN arc a ON {join} WHERE s.h <> a.h"
        report.quarantined = con.execute("SELECT count(*) FROM q").fetchone()[0]
        for name, sql in (("missing", missing), ("extra", extra), ("different", different)):
            found = con.execute(f"{sql} ORDER BY ALL").fetchall()
            setattr(report, name, len(found))
            setattr(report, f"{name}_keys", [k[0] if len(k) == 1 else list(k) for k in found[:SAMPLE]])
        return report
    finally:
        con.close()


def reconcile(project: Project, store: ArchiveStore, tables: list[Table], pii_key: bytes | None, work: Path,
              period: str | None = None) -> list[PeriodReport]:
    reports: list[PeriodReport] = []
    seen_labels: set[str] = set()
    for table in tables:
        periods = archived_periods(store, table.domain, table.name)
        seen_labels |= set(periods)
        manifests = {label: json.loads(store.read_bytes(a.path)) for label, a in periods.items()}
        incremental = table.mode == "incremental"
        tombstones = [t for m in manifests.values() for t in m.get("tombstones", [])] if incremental else None
        table_files = [f for m in manifests.values() for f in m["files"]] if incremental else None
        for label, manifest in sorted(manifests.items()):
            if period is not None and label != period:
                continue
            reports.append(reconcile_period(project, store, table, label, manifest, pii_key, work, tombstones,
                                            table_files))
    if period is not None and not reports:
        # a typo must not read as "all match"
        known = ", ".join(sorted(seen_labels)[-12:]) or "none"
        raise UnknownPeriod(f"no selected table has an archived period '{period}'; archived periods: {known}")
    return reports


class UnknownPeriod(ValueError):
    """`--period` names a period that no selected table has archived (bad usage: exit 2)."""


def all_ok(reports: list[PeriodReport], relations: list[RelationReport]) -> bool:
    return all(r.status == "ok" for r in [*reports, *relations])


def reports_json(reports: list[PeriodReport], relations: list[RelationReport] | None = None) -> str:
    relations = relations or []
    body = {"reconciled_at": datetime.now(UTC).isoformat(timespec="seconds"), "ok": all_ok(reports, relations),
            "periods": [{**asdict(r), "status": r.status} for r in reports],
            "relations": [{**asdict(r), "status": r.status} for r in relations]}
    return json.dumps(body, indent=2, default=str) + "\n"


def reports_text(reports: list[PeriodReport], relations: list[RelationReport] | None = None) -> str:
    header = ("TABLE", "PERIOD", "SOURCE", "ARCHIVE", "MISSING", "EXTRA", "DIFFERENT", "QUARANTINED", "STATUS")
    rows = [(r.table, r.period, str(r.source_rows), str(r.archive_rows), str(r.missing), str(r.extra),
             str(r.different), str(r.quarantined), r.status) for r in reports]
    widths = [max(len(x[i]) for x in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    for r in reports:
        for name in ("missing", "extra", "different"):
            keys = getattr(r, f"{name}_keys")
            if keys:
                more = f" (+{getattr(r, name) - len(keys)} more)" if getattr(r, name) > len(keys) else ""
                lines.append(f"{r.table} {r.period}: {name} keys {keys}{more}")
    for rel in relations or []:
        sample = f"; orphans the source does not have: {rel.sample}" if rel.sample else ""
        lines.append(f"relation {rel.relation}: source orphans {rel.source_orphans}, archive orphans "
                     f"{rel.archive_orphans}: {rel.status}{sample}")
    bad = sum(r.status != "ok" for r in [*reports, *(relations or [])])
    lines.append(f"\nreconcile: {len(reports)} period(s), {len(relations or [])} relation(s), "
                 + (f"{bad} mismatched" if bad else "all match"))
    return "\n".join(lines) + "\n"


def reconcile_project(project: Project, tables: list[Table], *, target: str | None = None,
                      period: str | None = None) -> tuple[list[PeriodReport], list[RelationReport]]:
    from archival.archive.targets import open_store
    from archival.source.secrets import resolve

    store = open_store(project, target)
    key = resolve(project.pii_hash_key, "pii.hash_key").value.encode() if project.pii_hash_key else None
    with tempfile.TemporaryDirectory(prefix="archival-reconcile-") as work:
        periods = reconcile(project, store, tables, key, Path(work), period)
    return periods, (check_relations(project, store, tables) if period is None else [])

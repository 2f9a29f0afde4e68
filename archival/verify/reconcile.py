"""`archival reconcile`: does each archived period match its source rows?

For every selected period the source side is read through the export's own path (the same query,
types and PII rules, in one snapshot), the archive side through the one archive reader from the
current manifest's files (minus tombstoned keys; quarantined keys are reported apart). Rows are
normalised by DuckDB's to_json and hashed per primary key on both sides; one join then names the keys
that are missing from the archive, extra in it, or different.

Why not bisect key ranges like hashdiff: bisecting saves transfer only when each side can compute
range checksums where its data lives. The source side must be normalised exactly like the archive
(DuckDB's types and JSON), so its rows pass through DuckDB once either way; one keyed pass then finds
every differing key at the cost of a single read."""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import duckdb
import pyarrow as pa

from archival.archive.manifest import Manifest
from archival.archive.purges import batch_files, purged_batches
from archival.archive.read import ArchivedFile, ArchiveReader, rows_sql
from archival.archive.state import archived_periods
from archival.archive.store import ArchiveStore
from archival.chunks import arrow_chunks
from archival.extract.query import RowsFilter
from archival.extract.snapshot import keys_since, open_snapshot
from archival.plan.periods import parse_label
from archival.plan.units import OUT_OF_RANGE, SPECIAL_PERIODS, ExportUnit, Window
from archival.source.cursor import cursor_expr
from archival.source.duck import local_connection
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
    newer: int = 0  # keys left out: their source row is newer than the archive's watermark
    purged: int = 0  # archived keys `archival purge` took out of the source (not missing there)
    missing_keys: list = field(default_factory=list)
    extra_keys: list = field(default_factory=list)
    different_keys: list = field(default_factory=list)

    @property
    def status(self) -> Status:
        return "ok" if not (self.missing or self.extra or self.different) else "mismatch"


def period_unit(project: Project, table: Table, label: str, manifest: Manifest) -> ExportUnit:
    domain = project.domain(table.domain)
    assert domain is not None
    source = project.source_of(domain)
    window = None
    if label == OUT_OF_RANGE and manifest.window:  # the range that export used: the same rows, if the source kept them
        window = Window(table.cursor, datetime.fromisoformat(manifest.window.start),
                        datetime.fromisoformat(manifest.window.end))
    elif label != "full" and label not in SPECIAL_PERIODS and table.period:
        period = parse_label(label, table.period, domain.timezone)
        window = Window(table.cursor, period.start, period.end)
    return ExportUnit(table.domain, table.name, label, table.mode, source.name, table_fingerprint(table, source),
                      "refresh", "reconcile", window)


def _keys_sql(table: Table, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + quote_ident(k) for k in table.primary_key)


def source_hashes(con: duckdb.DuckDBPyConnection, project: Project, table: Table, label: str, manifest: Manifest,
                  pii_key: bytes | None, into: str = "src", connection: duckdb.DuckDBPyConnection | None = None,
                  rows_filter: RowsFilter | None = None) -> list[str]:
    """Table `into`: a row hash per key of the period's source rows, read and shaped as the export
    reads them. Returns the columns the archive holds. `connection`: read inside this open
    transaction on the attached source (a purge's, under its locks); `rows_filter`: only these rows."""
    domain = project.domain(table.domain)
    assert domain is not None
    keys = _keys_sql(table)
    floor = scale_floor([c.model_dump() for c in manifest.columns])
    with open_snapshot(project.source_of(domain), project.root, table, period_unit(project, table, label, manifest),
                       batch_rows=65_536, scale_floor=floor, connection=connection, rows_filter=rows_filter) as snap:
        pii = PiiTransform(table, snap.arrow_schema, pii_key)
        columns = ", ".join(quote_ident(n) for n in pii.schema.names)
        hashed = f"SELECT {keys}, md5_number(to_json(b)::VARCHAR) AS h FROM (SELECT {columns} FROM {{}}) b"
        con.register("src_batch", pii.schema.empty_table())
        con.execute(f"CREATE OR REPLACE TABLE {into} AS " + hashed.format("src_batch"))
        for batch in snap.batches:
            con.register("src_batch", arrow_chunks(pii.apply(batch)))  # hashes on every thread
            con.execute(f"INSERT INTO {into} " + hashed.format("src_batch"))
        con.unregister("src_batch")
        pii.close()
    return list(pii.schema.names)


def archive_hashes(con: duckdb.DuckDBPyConnection, reader: ArchiveReader, table: Table, manifest: Manifest,
                    present: list[str], tombstones: list[Manifest], table_manifests: list[Manifest]) -> None:
    """Tables `arc` (a row hash per key of the period's archived rows that are current) and `q` (keys
    set aside in quarantine)."""
    keys = _keys_sql(table)
    files = reader.data([manifest])
    if files:
        rows = rows_sql(files, present, con=con)
        if table.mode == "incremental":
            # the archive keeps versions, the source only the latest: keep the rows of this period that
            # are their key's latest version across the whole table (a newer one may sit in a later period)
            cursor = cursor_expr(table.cursor, quote_ident)
            everything = rows_sql(reader.data(table_manifests), [*table.primary_key, *table.cursor], con=con)
            con.execute(f"CREATE TABLE latest AS SELECT {keys}, max({cursor}) AS __c FROM ({everything}) GROUP BY ALL")
            on = " AND ".join(f"p.{quote_ident(k)} = l.{quote_ident(k)}" for k in table.primary_key)
            p_cursor = cursor_expr(table.cursor, lambda n: f"p.{quote_ident(n)}")
            rows = f"SELECT p.* FROM ({rows}) p SEMI JOIN latest l ON {on} AND {p_cursor} = l.__c"
        con.execute(f"CREATE TABLE arc AS SELECT {keys}, md5_number(to_json(b)::VARCHAR) AS h FROM ({rows}) b")
    else:
        con.execute(f"CREATE TABLE arc AS SELECT {keys}, h FROM src WHERE false")
    dead = reader.tombstones(tombstones)
    if dead:
        con.execute(f"DELETE FROM arc WHERE ({keys}) IN (SELECT ({keys}) FROM ({rows_sql(dead, con=con)}))")
    quarantined = reader.quarantined([manifest])
    source = f"({rows_sql(quarantined, list(table.primary_key), con=con)})" if quarantined else "arc WHERE false"
    con.execute(f"CREATE TABLE q AS SELECT DISTINCT {keys} FROM {source}")


def _leave_out_newer(con: duckdb.DuckDBPyConnection, table: Table, newer: pa.Table | None) -> int:
    """Drop from both sides the keys the archive cannot hold yet; how many keys that was here."""
    if newer is None or newer.num_rows == 0:
        return 0
    keys = _keys_sql(table)
    con.register("newer_keys", newer)
    count = con.execute(f"SELECT count(*) FROM (SELECT {keys} FROM src UNION SELECT {keys} FROM arc) "
                        f"SEMI JOIN newer_keys USING ({keys})").fetchone()[0]
    for side in ("src", "arc"):
        con.execute(f"DELETE FROM {side} WHERE ({keys}) IN (SELECT ({keys}) FROM newer_keys)")
    con.unregister("newer_keys")
    return count


def _leave_out_purged(con: duckdb.DuckDBPyConnection, table: Table, purged: list[ArchivedFile]) -> int:
    """Drop from the archive side the keys a purge took out of the source (and that it lacks)."""
    if not purged:
        return 0
    keys = _keys_sql(table)
    gone = f"SELECT {keys} FROM ({rows_sql(purged, list(table.primary_key), con=con)}) ANTI JOIN src USING ({keys})"
    return con.execute(f"DELETE FROM arc WHERE ({keys}) IN (SELECT ({keys}) FROM ({gone}))").fetchone()[0]


def _compare(con: duckdb.DuckDBPyConnection, table: Table, label: str) -> PeriodReport:
    join = " AND ".join(f"s.{quote_ident(k)} = a.{quote_ident(k)}" for k in table.primary_key)
    q_join = " AND ".join(f"x.{quote_ident(k)} = q.{quote_ident(k)}" for k in table.primary_key)
    s_keys, a_keys = _keys_sql(table, "s"), _keys_sql(table, "a")
    report = PeriodReport(table.qualified_name, label, con.execute("SELECT count(*) FROM src").fetchone()[0],
                          con.execute("SELECT count(*) FROM arc").fetchone()[0])
    missing = f"SELECT * FROM (SELECT {s_keys} FROM src s ANTI JOIN arc a ON {join}) x ANTI JOIN q ON {q_join}"
    extra = f"SELECT {a_keys} FROM arc a ANTI JOIN src s ON {join}"
    different = f"SELECT {s_keys} FROM src s JOIN arc a ON {join} WHERE s.h <> a.h"
    report.quarantined = con.execute("SELECT count(*) FROM q").fetchone()[0]
    for name, sql in (("missing", missing), ("extra", extra), ("different", different)):
        found = con.execute(f"{sql} ORDER BY ALL").fetchall()
        setattr(report, name, len(found))
        setattr(report, f"{name}_keys", [k[0] if len(k) == 1 else list(k) for k in found[:SAMPLE]])
    return report


def reconcile_period(project: Project, store: ArchiveStore, table: Table, label: str, manifest: Manifest,
                     pii_key: bytes | None, work: Path, table_manifests: list[Manifest] | None = None,
                     newer: pa.Table | None = None, purged: list[ArchivedFile] | None = None) -> PeriodReport:
    """`table_manifests`: for incremental tables, the current manifests of every period (a key's
    delete is recorded where it was seen gone, its versions stay where their cursors put them).
    `newer`: keys whose source row is newer than the archive's watermark, left out on both sides.
    `purged`: key files of `archival purge` (archive/purges.py)."""
    con = local_connection()
    # a row hash per key on both sides: bounded memory, the rest spills to the work folder
    con.execute(f"SET temp_directory = {sql_literal(str(work / 'reconcile-spill'))}")
    con.execute("SET memory_limit = '512MB'")
    try:
        present = source_hashes(con, project, table, label, manifest, pii_key)
        with ExitStack() as stack:
            reader = ArchiveReader(store, stack)
            everything = table_manifests or [manifest]
            archive_hashes(con, reader, table, manifest, present, everything if table_manifests else [manifest],
                            everything)
        left_out = _leave_out_newer(con, table, newer)
        taken = _leave_out_purged(con, table, purged or [])
        report = _compare(con, table, label)
        report.newer, report.purged = left_out, taken
        return report
    finally:
        con.close()


def reconcile(project: Project, store: ArchiveStore, tables: list[Table], pii_key: bytes | None, work: Path,
              period: str | None = None) -> list[PeriodReport]:
    reports: list[PeriodReport] = []
    seen_labels: set[str] = set()
    for table in tables:
        periods = {label: archived for label, archived in archived_periods(store, table.domain, table.name).items()
                   if archived.manifest.expiry is None}  # expired under retention: the source may still hold it
        seen_labels |= set(periods)
        manifests = [a.manifest for a in periods.values()] if table.mode == "incremental" else None
        newer = _newer_keys(project, table, manifests) if manifests else None
        batches = [b for b in purged_batches(store, table.domain, table.name) if b.committed is not False]
        for label, archived in sorted(periods.items()):
            if period is None or label == period:
                with ExitStack() as stack:
                    purged = batch_files(store, stack, [b for b in batches if b.period == label])
                    reports.append(reconcile_period(project, store, table, label, archived.manifest, pii_key, work,
                                                    manifests, newer, purged))
    if period is not None and not reports:
        # a typo must not read as "all match"
        known = ", ".join(sorted(seen_labels)[-12:]) or "none"
        raise UnknownPeriod(f"no selected table has an archived period '{period}'; archived periods: {known}")
    return reports


def _newer_keys(project: Project, table: Table, manifests: list[Manifest]) -> pa.Table | None:
    """An incremental table's keys edited after the archive's watermark (the bound up to which the last
    run read): the next run archives them, so comparing them now would only raise false alarms."""
    marks = [datetime.fromisoformat(m.watermark) for m in manifests if m.watermark]
    if not marks:
        return None
    domain = project.domain(table.domain)
    assert domain is not None
    return keys_since(project.source_of(domain), project.root, table, max(marks))


class UnknownPeriod(ValueError):
    """`--period` names a period that no selected table has archived (bad usage: exit 2)."""


def reconcile_project(project: Project, tables: list[Table], *, target: str | None = None,
                      period: str | None = None) -> tuple[list[PeriodReport], list[RelationReport]]:
    from archival.archive.targets import open_store
    from archival.source.secrets import resolve

    store = open_store(project, target)
    key = resolve(project.pii_hash_key, "pii.hash_key").value.encode() if project.pii_hash_key else None
    with tempfile.TemporaryDirectory(prefix="archival-reconcile-") as work:
        periods = reconcile(project, store, tables, key, Path(work), period)
    return periods, (check_relations(project, store, tables) if period is None else [])

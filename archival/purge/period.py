"""Purge one archived period of one table.

1. The archive side: the files of the period's current manifest (and, for an incremental table, of
   every current manifest: a key's latest version decides) must hold the bytes their manifests name;
   then a row hash per key of the archived rows that are current (reconcile's reader).
2. A first pass over the period's source rows, read as the export reads them: rows whose hash
   equals their archived copy are eligible; the others are kept and counted by reason.
3. Eligible keys in batches, each in one source transaction: lock the rows, read them again under
   the locks, keep the ones that changed or that a source row still refers to, write the batch's
   keys to the archive, DELETE, check the count, commit. A dry run stops before the locks."""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from archival.archive import layout
from archival.archive.audit_log import recorded
from archival.archive.read import ArchiveReader
from archival.archive.rows import ArchiveDamaged, check_files
from archival.archive.state import ArchivedPeriod
from archival.archive.store import ArchiveStore
from archival.failpoints import failpoint
from archival.purge.keys import key_range, key_tuples, keys_digest, rows_filter
from archival.purge.records import BatchRecord, PeriodOutcome, write_batch_keys
from archival.purge.references import Reference
from archival.purge.session import BatchBusy, PurgeSession
from archival.source.duck import local_connection
from archival.spec.model import Domain, Project, Table
from archival.sql import quote_ident, sql_literal
from archival.verify.reconcile import archive_hashes, source_hashes

LAG_POLLS, LAG_POLL_SECONDS = 30, 2.0  # a lagging replica is waited for up to a minute, then the table stops


class PurgeFailed(Exception):
    """A batch did not do what it was checked to do (its DELETE removed another number of rows): it
    was rolled back and the purge stops."""


@dataclass
class PurgeContext:
    project: Project
    store: ArchiveStore
    run_id: str
    as_of: datetime
    pii_key: bytes | None
    work: Path
    dry_run: bool
    ignore_quiet_hours: bool = False
    remaining: int | None = None  # rows this run may still delete (--max-rows)
    gone: dict[str, list[pa.Table]] = field(default_factory=dict)  # per table: keys taken out by this run
    checked: set[str] = field(default_factory=set)  # archive files whose sha256 this run checked
    stopped: str | None = None  # why the run stopped early (quiet hours, --max-rows)


def _keys(table: Table, prefix: str = "") -> str:
    return ", ".join(prefix + quote_ident(k) for k in table.primary_key)


def check_archive(ctx: PurgeContext, periods: list[ArchivedPeriod]) -> None:
    """ArchiveDamaged unless each manifest is recorded, with its sha256, in the audit chain (a
    manifest edited or written outside a run is not trusted) and each file holds the bytes its
    manifest names: nothing is purged on the word of an archive that verify would not accept."""
    for period in periods:
        if period.path not in ctx.checked and not recorded(ctx.store, period.stored):
            raise ArchiveDamaged(f"{period.path}: this manifest version is not recorded in the audit chain with "
                                 "its sha256; nothing was purged (`archival verify` reports the archive's state)")
        ctx.checked.add(period.path)
    files = [(f.path, f.sha256) for a in periods for f in [*a.manifest.files, *a.manifest.tombstones]
             if f.path not in ctx.checked]
    check_files(ctx.store, files, "nothing was purged")
    ctx.checked.update(path for path, _ in files)


def _first_pass(con: duckdb.DuckDBPyConnection, ctx: PurgeContext, table: Table, period: ArchivedPeriod,
                everything: list[ArchivedPeriod], outcome: PeriodOutcome) -> pa.Table:
    """Tables `src`, `arc` in `con`; returns the eligible keys, in key order."""
    manifest = period.manifest
    present = source_hashes(con, ctx.project, table, period.period, manifest, ctx.pii_key)
    archived_names = [c.name for c in manifest.columns]
    if sorted(present) != sorted(archived_names):
        outcome.notes.append(f"the source's columns ({', '.join(present)}) differ from the archived ones "
                             f"({', '.join(archived_names)}): rows whose archived copy lacks a value are kept")
    with ExitStack() as stack:
        reader = ArchiveReader(ctx.store, stack)
        manifests = [a.manifest for a in everything] if table.mode == "incremental" else [manifest]
        archive_hashes(con, reader, table, manifest, [n for n in present if n in archived_names], manifests,
                       manifests)
    keys = _keys(table)
    join = " AND ".join(f"s.{quote_ident(k)} = a.{quote_ident(k)}" for k in table.primary_key)
    outcome.keep("changed since export", con.execute(f"SELECT count(*) FROM src s JOIN arc a ON {join} "
                                                     "WHERE s.h <> a.h").fetchone()[0])
    outcome.keep("not archived (quarantined, or newer than the export)",
                 con.execute(f"SELECT count(*) FROM src s ANTI JOIN arc a ON {join}").fetchone()[0])
    if sorted(present) != sorted(archived_names):
        return con.execute(f"SELECT {keys} FROM src WHERE false").to_arrow_table()
    eligible = con.execute(f"SELECT {_keys(table, 's.')} FROM src s JOIN arc a ON {join} WHERE s.h = a.h "
                           f"ORDER BY {_keys(table, 's.')}").to_arrow_table()
    outcome.eligible = eligible.num_rows
    return eligible


def _referenced(session: PurgeSession, ctx: PurgeContext, table: Table, refs: list[Reference],
                rows: list[tuple]) -> set[tuple]:
    held: set[tuple] = set()
    for ref in refs:
        gone = ctx.gone.get(ref.child_table or "")
        gone_keys = pa.concat_tables(gone) if gone else None
        held |= session.referenced(table, ref, [r for r in rows if r not in held], gone_keys)
    return held


def _pause_or_stop(ctx: PurgeContext, domain: Domain, table: Table, session: PurgeSession) -> str | None:
    """Before a batch: a reason to stop this table for the run, or None (waits out a lagging replica)."""
    if not ctx.ignore_quiet_hours and not ctx.dry_run:
        window = domain.quiet_hours_at(datetime.now().astimezone())
        if window is not None:
            return f"quiet hours ({window})"
    ceiling = table.purge.max_replica_lag  # type: ignore[union-attr]
    if ceiling is not None and session.source.type == "postgres" and not ctx.dry_run:
        for _ in range(LAG_POLLS):
            lag = session.replica_lag()
            if lag <= ceiling.seconds:
                break
            time.sleep(LAG_POLL_SECONDS)
        else:
            return f"a replica lags {lag:.0f}s, above max_replica_lag {ceiling}"
    return None


def purge_period(ctx: PurgeContext, session: PurgeSession, domain: Domain, table: Table, refs: list[Reference],
                 period: ArchivedPeriod, everything: list[ArchivedPeriod], budget: int | None) -> PeriodOutcome:
    """`budget`: rows this table may still delete in this run."""
    outcome = PeriodOutcome(table.qualified_name, period.period, period.path, period.stored.sha256)
    check_archive(ctx, everything if table.mode == "incremental" else [period])  # done before any batch
    con = local_connection()
    con.execute(f"SET temp_directory = {sql_literal(str(ctx.work / 'purge-spill'))}")
    con.execute("SET memory_limit = '512MB'")
    try:
        eligible = _first_pass(con, ctx, table, period, everything, outcome)
        deleted = _batches(con, ctx, session, domain, table, refs, period, eligible, outcome, budget)
    finally:
        con.close()
    rows = key_tuples(deleted, table.primary_key)
    outcome.deleted = len(rows)  # a dry run: the rows a real run would delete
    outcome.keys_sha256, outcome.key_range = (keys_digest(rows), key_range(rows)) if rows else (None, None)
    if rows:
        ctx.gone.setdefault(table.qualified_name, []).append(deleted)
    return outcome


def _batches(con: duckdb.DuckDBPyConnection, ctx: PurgeContext, session: PurgeSession, domain: Domain, table: Table,
             refs: list[Reference], period: ArchivedPeriod, eligible: pa.Table, outcome: PeriodOutcome,
             budget: int | None) -> pa.Table:
    """The keys deleted (a dry run: that would be), batch by batch."""
    purge = table.purge
    assert purge is not None
    taken: list[pa.Table] = []
    limit = min(x for x in (budget, ctx.remaining, eligible.num_rows) if x is not None)
    outcome.keep("over the run's row limit", eligible.num_rows - limit)
    for sequence, start in enumerate(range(0, limit, purge.batch_rows), start=1):
        batch = eligible.slice(start, min(purge.batch_rows, limit - start))
        stop = _pause_or_stop(ctx, domain, table, session)
        if stop is not None:
            outcome.keep(f"stopped: {stop}", limit - start)
            ctx.stopped = stop
            break
        if ctx.dry_run:
            held = _referenced(session, ctx, table, refs, key_tuples(batch, table.primary_key))
            outcome.keep("a source row still refers to it", len(held))
            done: pa.Table | None = _subset(batch, table, held)
        else:
            done = _one_batch(con, ctx, session, table, refs, period, batch, sequence, outcome)
            if start + purge.batch_rows < limit:
                time.sleep(purge.pause.seconds)
        if done is not None:
            taken.append(done)
            if ctx.remaining is not None:
                ctx.remaining -= done.num_rows
    return pa.concat_tables(taken) if taken else eligible.slice(0, 0)


def _subset(batch: pa.Table, table: Table, held: set[tuple]) -> pa.Table:
    if not held:
        return batch
    rows = key_tuples(batch, table.primary_key)
    return batch.filter(pa.array([r not in held for r in rows]))


def _one_batch(con: duckdb.DuckDBPyConnection, ctx: PurgeContext, session: PurgeSession, table: Table,
               refs: list[Reference], period: ArchivedPeriod, batch: pa.Table, sequence: int,
               outcome: PeriodOutcome) -> pa.Table | None:
    """Lock, compare again, record, delete, commit. The deleted keys, or None (nothing deleted)."""
    unit = f"{table.qualified_name}/{period.period}"  # a failpoint's unit: the first batch that gets there
    rows = key_tuples(batch, table.primary_key)
    record: BatchRecord | None = None
    equal: pa.Table | None = None
    try:
        with session.transaction(table.purge):  # type: ignore[arg-type]
            session.lock(table, rows)
            failpoint("purge:locked", unit)
            source_hashes(con, ctx.project, table, period.period, period.manifest, ctx.pii_key, into="locked",
                          connection=session.con, rows_filter=rows_filter(table.primary_key, rows))
            join = " AND ".join(f"l.{quote_ident(k)} = a.{quote_ident(k)}" for k in table.primary_key)
            equal = con.execute(f"SELECT {_keys(table, 'l.')} FROM locked l JOIN arc a ON {join} WHERE l.h = a.h "
                                f"ORDER BY {_keys(table, 'l.')}").to_arrow_table()
            outcome.keep("changed while being purged", len(rows) - equal.num_rows)
            held = _referenced(session, ctx, table, refs, key_tuples(equal, table.primary_key))
            outcome.keep("a source row still refers to it", len(held))
            equal = _subset(equal, table, held)
            if equal.num_rows == 0:
                return None
            path = layout.purge_batch_path(ctx.run_id, table.domain, table.name, period.period, sequence)
            sha, count = write_batch_keys(ctx.store, path, equal, ctx.work)
            record = BatchRecord(path, sha, count, committed=False)
            outcome.batches.append(record)
            failpoint("purge:recorded", unit)
            deleted = session.delete(table, key_tuples(equal, table.primary_key))
            if deleted != equal.num_rows:
                raise PurgeFailed(f"{unit} batch {sequence}: the DELETE removed {deleted} row(s), {equal.num_rows} "
                                  "were locked and checked; rolled back, and the purge stops")
            failpoint("purge:deleted", unit)
        record.committed = True
        failpoint("purge:committed", unit)
        return equal
    except BatchBusy as exc:
        outcome.keep("locked or changed by another transaction", equal.num_rows if equal is not None else len(rows))
        outcome.notes.append(f"batch {sequence}: {exc}; kept for a later run")
        return None


__all__ = ["PurgeContext", "PurgeFailed", "purge_period", "ArchiveStore"]

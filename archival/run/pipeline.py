"""The executor of a unit's stage list (plan/stages.py). The first stage opens the source snapshot, the
stream stages are built from their dataclasses (one factory each, below) and every batch passes them
in order, the last stage records. The list the executor runs is the list the plan shows; the stage
clock names each stage as it runs, so a unit's result says what ran and what it cost."""

from __future__ import annotations

import functools
import logging
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa

from archival.archive import layout
from archival.archive.fingerprint import RowFingerprint
from archival.archive.purges import PurgedBatch, batch_files, purged_batches
from archival.archive.read import ArchiveReader
from archival.archive.state import ArchivedPeriod, archived_periods, latest_manifest, manifest_versions
from archival.archive.store import LocalStore
from archival.check.contract import ContractStage
from archival.check.registry import load_project_checks
from archival.extract.ranges import ParallelRead
from archival.extract.rows_read import RowsRead
from archival.extract.snapshot import UnitSnapshot, open_snapshot
from archival.failpoints import failpoint
from archival.plan import stages as st
from archival.plan.units import NULL_PERIOD, OUT_OF_RANGE, ExportUnit
from archival.platform.deletes import with_delete_times
from archival.record.commit import DataPolicyError, retain_until
from archival.run.clock import StageClock
from archival.run.context import RunContext
from archival.run.interrupt import STOP, Interrupted
from archival.run.limits import source_limit
from archival.run.tail import StreamTail
from archival.source.types import scale_floor
from archival.spec.model import FileFormat
from archival.write.delta import VersionFilter
from archival.write.departures import PeriodDepartures, TableDepartures, valid_census
from archival.write.parts import EXTENSIONS, PartsStage, PartWriter
from archival.write.pii import PiiTransform
from archival.write.quarantine import QuarantineSink, SetAsideBefore, quarantine_schema
from archival.write.replace import VersionReplace
from archival.write.spool import SpoolTarget, UploadSpool

LOG = logging.getLogger(__name__)


class Transform(Protocol):
    """A stream stage: batches in, batches out (fewer rows, other columns, or none)."""

    name: str

    def feed(self, batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]: ...
    def finish(self) -> Iterator[pa.RecordBatch]: ...
    def close(self) -> None: ...


def out_of_range_reason(table) -> str:
    return f"cursor ({', '.join(table.cursor)}): outside the plausible range"


class UnitRun:
    """One attempt at a unit: its archive state, scratch folder, clock, snapshot and stream. Closing it
    releases everything, on success or failure (temp parts of a failed attempt are removed)."""

    def __init__(self, ctx: RunContext, unit: ExportUnit, connection: duckdb.DuckDBPyConnection | None = None,
                 uploads: bool = True):
        """`uploads`: parts may go to the target during the read (False: a run that publishes nothing)."""
        self.ctx, self.unit, self.connection, self.uploads = ctx, unit, connection, uploads
        self.domain = ctx.project.domain(unit.domain)
        assert self.domain is not None
        self.table = self.domain.table(unit.table)
        assert self.table is not None
        self.source = ctx.project.source_of(self.domain)
        self.clock = StageClock()
        self.stack, self.source_stack = ExitStack(), ExitStack()
        self.work = ctx.work_root / unit.id.replace("/", "__")
        self.work.mkdir(parents=True, exist_ok=True)
        # names only: a unit reads its own period's manifest and the latest period's, not every
        # period's (a daily table's backfill read O(periods^2) manifests); `archived` reads them all
        # for the hard-delete check of the latest period, which needs them
        versions = manifest_versions(ctx.store, unit.domain, unit.table)
        self.current = latest_manifest(ctx.store, versions[unit.period]) if unit.period in versions else None
        latest = max(versions) if versions else None
        self.reference = self.current or (latest_manifest(ctx.store, versions[latest]) if latest else None)
        self.reader = ArchiveReader(ctx.store, self.stack)
        self.snapshot: UnitSnapshot | None = None
        self.pii: PiiTransform | None = None
        self.quarantine: PartWriter | None = None
        self.sink: QuarantineSink | None = None
        self.spool: UploadSpool | None = None
        self.chain: list[Transform] = []
        self.tail: StreamTail | None = None  # the stream's second half on a thread of its own (run/tail.py)
        self._handoff = -1  # the chain index the tail starts at

    @functools.cached_property
    def archived(self) -> dict[str, ArchivedPeriod]:
        """Every period's current manifest (the table-wide hard-delete check reads them all)."""
        return archived_periods(self.ctx.store, self.unit.domain, self.unit.table)

    def __enter__(self) -> UnitRun:
        return self

    def __exit__(self, *exc: Any) -> None:
        chain = self.chain
        if self.tail is not None:
            if self.spool is not None:
                self.spool.close()  # a tail waiting for upload room gives up: the unit ends either way
            if not self.tail.cancel():  # still in a call after JOIN_SECONDS: its stages stay as they are
                chain = chain[:self._handoff]
                LOG.warning("%s: the stream's second half did not end; its stages are left open", self.unit.id)
        for transform in chain:
            transform.close()
        if self.pii is not None:
            self.pii.close()  # idempotent: it may be in the chain too
        if self.quarantine is not None and exc[0] is not None:
            self.quarantine.abort()
        if self.spool is not None:
            self.spool.close()
        self.source_stack.close()
        self.stack.close()
        shutil.rmtree(self.work, ignore_errors=True)

    def open_snapshot(self, stage: st.Snapshot) -> None:
        tuning, unit, table = self.ctx.tuning, self.unit, self.table
        with self.clock.stage("snapshot"):
            floor = scale_floor([c.model_dump() for c in self.reference.manifest.columns] if self.reference else [])
            self.snapshot = self.source_stack.enter_context(open_snapshot(
                self.source, self.ctx.project.root, table, unit, batch_rows=tuning.batch_rows,
                memory_limit=tuning.memory_limit, threads=tuning.threads, clustered=stage.clustered,
                shared_snapshot=self.ctx.shared_snapshots.get(self.source.name), scale_floor=floor,
                connection=self.connection, parallel=self.parallel_read()))
        if self.snapshot.connection is not None:  # a stop interrupts a query that runs long (a sort, a scan)
            self.source_stack.enter_context(STOP.while_running(self.snapshot.connection.interrupt))
        if unit.period == NULL_PERIOD and table.null_cursor == "fail":
            raise DataPolicyError(f"{table.location}: {self.snapshot.source_row_count} row(s) of "
                                  f"{table.qualified_name} have a NULL cursor and null_cursor is 'fail'")
        load_project_checks(self.ctx.project.root)
        self.pii = PiiTransform(table, self.snapshot.arrow_schema, self.ctx.pii_key, threads=tuning.threads)

    def parallel_read(self) -> ParallelRead:
        limits = self.ctx.project.limits
        return ParallelRead(min(limits.parallel_reads, source_limit(self.ctx.project, self.source.name)),
                            limits.parallel_min_rows, self.work / "ranges")

    def build(self, stage: st.Stage) -> Transform:
        transform = FACTORIES[type(stage)](stage, self)
        self.chain.append(transform)
        return transform

    def drive(self) -> None:
        """Every batch of the snapshot through the chain, then each stage's remainder through the rest.
        A big unit runs the chain's tail (pii, replace, fingerprint, parts) on a thread of its own."""
        assert self.snapshot is not None
        self._start_tail()
        for batch in self.clock.timed("read", self.snapshot.batches):
            failpoint("unit:batch", self.unit.id)
            STOP.check()  # a run asked to stop: nothing of this unit is published
            self._push(0, batch)
        if self.tail is None:
            self._finish_stages(0, len(self.chain), on_tail=False)
            return
        self._finish_stages(0, self._handoff, on_tail=False)
        with self.clock.stage("handoff"):
            self.tail.finish()

    def _start_tail(self) -> None:
        if self.snapshot.source_row_count < self.ctx.tuning.tail_min_rows:
            return  # a small unit: a thread would cost more than it overlaps
        start = next((i for i, t in enumerate(self.chain) if isinstance(t, TAIL_STAGES)), None)
        if start is None or not all(isinstance(t, TAIL_STAGES) for t in self.chain[start:]):
            return
        self._handoff = start
        self.tail = StreamTail(lambda batch: self._push(start, batch, on_tail=True),
                               lambda: self._finish_stages(start, len(self.chain), on_tail=True),
                               lambda: Interrupted(STOP.reason) if STOP.requested else None, self.unit.id)

    def _finish_stages(self, start: int, end: int, on_tail: bool) -> None:
        for index in range(start, end):
            transform = self.chain[index]
            with self.clock.stage(transform.name):
                out = list(transform.finish())
            for batch in out:
                self._push(index + 1, batch, on_tail)

    def _push(self, index: int, batch: pa.RecordBatch, on_tail: bool = False) -> None:
        if index == len(self.chain):
            return
        if index == self._handoff and not on_tail:
            with self.clock.stage("handoff"):  # the reader waits for the tail: the slower half sets the pace
                self.tail.put(batch)
            return
        transform = self.chain[index]
        with self.clock.stage(transform.name):
            out = list(transform.feed(batch))
        for produced in out:
            self._push(index + 1, produced, on_tail)

    @functools.cached_property
    def purged(self) -> list[PurgedBatch]:
        """`archival purge`'s batches of this table that committed or may have (unsettled)."""
        batches = purged_batches(self.ctx.store, self.unit.domain, self.unit.table)
        return [b for b in batches if b.committed is not False]

    @property
    def purge_basis(self) -> list[str]:
        """The purge batches a key census counted out, as its basis names them."""
        return [f"{b.path}:{b.committed}" for b in self.purged]

    def upload_spool(self, fmt: FileFormat) -> UploadSpool | None:
        """Parts upload while the unit reads when every part will be published: a remote target and a
        period with no version yet (nothing to compare its rows with). Otherwise after the record
        stage's comparison, which may find the rows unchanged and publish nothing."""
        if not self.uploads or isinstance(self.ctx.store, LocalStore) or self.current is not None:
            return None
        unit = self.unit
        target = SpoolTarget(self.ctx.store, layout.period_dir(unit.domain, unit.table, unit.period), EXTENSIONS[fmt],
                             self.table.tier, retain_until(self.table, unit))
        self.spool = UploadSpool(target, self.ctx.tuning.spool_bytes,
                                 lambda: Interrupted(STOP.reason) if STOP.requested else None)
        return self.spool

    def find(self, kind: type) -> Any:
        return next((t for t in self.chain if isinstance(t, kind)), None)

    def quarantine_sink(self) -> QuarantineSink:
        assert self.pii is not None
        tuning = self.ctx.tuning
        self.quarantine = PartWriter(self.work / "quarantine", "parquet", quarantine_schema(self.pii),
                                     row_group_rows=tuning.row_group_rows, target_file_bytes=tuning.target_file_bytes)
        before = None
        if self.unit.rewrite and self.current and self.current.manifest.quarantine:
            before = SetAsideBefore(self.reader.quarantined([self.current.manifest]), self.pii.schema.names)
            self.stack.callback(before.close)
        self.sink = QuarantineSink(self.quarantine, self.pii, before)
        return self.sink


def _naive_if_needed(since: datetime | None, run: UnitRun) -> datetime | None:
    """The lookback bound in the cursor column's own terms: naive columns hold wall time of the zone."""
    if since is None:
        return None
    first = next(c for c in run.snapshot.columns if c.name == run.table.cursor[0])
    return since.astimezone(ZoneInfo(run.table.timezone)).replace(tzinfo=None) if first.is_naive_timestamp else since


def _versions(stage: st.VersionFilter, run: UnitRun) -> Transform:
    current = [run.current.manifest] if run.current else []
    return VersionFilter(run.table, run.reader.data(current), run.reader.quarantined(current),
                         run.reader.tombstones(current), _naive_if_needed(stage.since, run),
                         threads=run.ctx.tuning.threads)


def _departures(stage: st.Departures, run: UnitRun) -> Transform:
    if stage.scope == "period":
        purged = batch_files(run.ctx.store, run.stack, [b for b in run.purged if b.period == run.unit.period])
        versions = run.find(VersionFilter)
        if versions is not None:
            return PeriodDepartures(versions, run.table.primary_key, purged=purged)
        current = [run.current.manifest] if run.current else []  # a refresh: no `versions` stage saw the keys
        return PeriodDepartures(None, run.table.primary_key, run.reader.data(current), run.reader.tombstones(current),
                                purged)
    snap, table, manifests = run.snapshot, run.table, [a.manifest for a in run.archived.values()]
    dated = None
    if run.source.platform and run.source.type == "postgres" and len(table.primary_key) == 1:
        platform = run.source.platform

        def dated(keys: pa.Table) -> pa.Table:
            assert snap.connection is not None
            return with_delete_times(snap.connection, "src", platform, table.relation, keys)
    return TableDepartures(table.primary_key, run.reader.data(manifests), run.reader.tombstones(manifests),
                           valid_census([a.stored for a in run.archived.values()], run.purge_basis),
                           lambda: snap.count_all(run.source.type, table.relation),
                           lambda: snap.all_keys(table.relation, table.primary_key), dated,
                           batch_files(run.ctx.store, run.stack, run.purged))


def _contract(stage: st.Contract, run: UnitRun) -> Transform:
    def refuse(bad: pa.Table) -> None:
        raise AssertionError("only on_invalid: quarantine sets rows aside")

    sink = run.quarantine_sink() if run.table.on_invalid == "quarantine" else refuse
    return ContractStage(run.table, run.snapshot.arrow_schema, sink,
                         out_of_range_reason(run.table) if stage.reject_all else None)


def _replace(stage: st.Replace, run: UnitRun) -> Transform:
    assert run.current is not None and run.pii is not None
    tuning = run.ctx.tuning
    return VersionReplace(run.table, run.pii.schema, run.reader.data([run.current.manifest]), run.work,
                          batch_rows=tuning.batch_rows, threads=tuning.threads)


def _parts(stage: st.Parts, run: UnitRun) -> Transform:
    tuning = run.ctx.tuning
    spool = run.upload_spool(stage.format)
    return PartsStage(PartWriter(run.work / "parts", stage.format, run.pii.schema, row_group_rows=tuning.row_group_rows,
                                 target_file_bytes=tuning.target_file_bytes, keys=run.ctx.store.keys,
                                 on_part=spool.offer if spool else None))


# stages that may run on the tail's thread: none of them uses the source's connection or the contract's
TAIL_STAGES = (PiiTransform, VersionReplace, RowFingerprint, PartsStage)

FACTORIES: dict[type, Callable[[Any, UnitRun], Transform]] = {
    st.Read: lambda stage, run: RowsRead(run.table, stage.key_checksum),
    st.VersionFilter: _versions,
    st.Departures: _departures,
    st.Contract: _contract,
    st.Pii: lambda stage, run: run.pii,
    st.Replace: _replace,
    st.Fingerprint: lambda stage, run: RowFingerprint.for_rows(run.pii.schema, stage.algorithm, kept=stage.kept,
                                                               what=run.unit.id, threads=run.ctx.tuning.threads,
                                                               background=True),
    st.Parts: _parts,
}

__all__ = ["FACTORIES", "OUT_OF_RANGE", "Transform", "UnitRun", "out_of_range_reason"]

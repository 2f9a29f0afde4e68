"""`archival purge`: every selected table with `purge:`, children before parents, each archived
period whose end is `after` behind the as-of; under the tables' run locks, so no export writes a
purged table meanwhile. A dry run takes no locks, writes nothing and changes nothing: it reports
the keys (their count and digest) that a real run at the same moment deletes."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archival.archive.layout import new_run_id
from archival.archive.locks import TableLocks
from archival.archive.purges import purged_periods
from archival.archive.state import ArchivedPeriod, archived_periods
from archival.archive.store import ArchiveStore
from archival.archive.targets import open_store
from archival.failpoints import failpoint
from archival.lifecycle.holds import initiator
from archival.plan.periods import parse_label
from archival.plan.units import SPECIAL_PERIODS
from archival.purge.period import PurgeContext, check_archive, purge_period
from archival.purge.records import PeriodOutcome, audit_period, settle, write_run_record
from archival.purge.references import children_first, references, source_foreign_keys
from archival.purge.session import PurgeSession
from archival.record.anchor import record_head
from archival.source.secrets import resolve
from archival.spec.model import Domain, Project, Table


class NothingToPurge(ValueError):
    """No selected table declares `purge:` (bad usage: exit 2)."""


@dataclass
class PurgeReport:
    run_id: str
    as_of: str
    dry_run: bool
    periods: list[PeriodOutcome] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)  # earlier runs whose record this run wrote
    stopped: str | None = None
    record: str | None = None

    @property
    def deleted(self) -> int:
        return sum(p.deleted for p in self.periods)

    def as_json(self) -> dict[str, Any]:
        return {**{k: v for k, v in asdict(self).items() if k != "periods"}, "deleted": self.deleted,
                "periods": [p.as_json() for p in self.periods]}


def due_periods(store: ArchiveStore, domain: Domain, table: Table, as_of: datetime) -> list[ArchivedPeriod]:
    """Archived calendar periods whose end is `purge.after` behind `as_of`, not expired, and not
    purged completely already (oldest first)."""
    assert table.purge is not None and table.period is not None
    archived = archived_periods(store, table.domain, table.name)
    done = purged_periods(store, table.domain, table.name, table.primary_key)
    due = []
    for label, period in sorted(archived.items()):
        if label in SPECIAL_PERIODS or period.manifest.expiry is not None:
            continue
        end = parse_label(label, table.period, domain.timezone).end
        if end + table.purge.after.delta > as_of:
            continue
        if label in done and done[label].rows >= period.live_rows:
            continue
        due.append(period)
    return due


def due_text(project: Project, store: ArchiveStore, tables: list[Table], as_of: datetime) -> str | None:
    """`plan`'s line on purges (from the manifests: no source is asked), or None when no selected
    table declares `purge:`."""
    purged = [t for t in tables if t.purge is not None]
    if not purged:
        return None
    periods = rows = 0
    for table in purged:
        done = purged_periods(store, table.domain, table.name, table.primary_key)
        for period in due_periods(store, project.domain(table.domain), table, as_of):  # type: ignore[arg-type]
            periods += 1
            rows += period.live_rows - (done[period.period].rows if period.period in done else 0)
    if not periods:
        return f"purge due: nothing ({len(purged)} table(s) with purge:)"
    return (f"purge due: {periods} period(s) of {len(purged)} table(s), up to {rows:,} archived row(s) still in the "
            "source; `archival purge --dry-run` compares them with the source")


def purge_project(project: Project, tables: list[Table], *, target: str | None = None,
                  as_of: datetime | None = None, dry_run: bool = False, max_rows: int | None = None,
                  ignore_quiet_hours: bool = False) -> PurgeReport:
    selected = [t for t in tables if t.purge is not None]
    if not selected:
        raise NothingToPurge("no selected table declares `purge:`; purging is opt-in per table (docs/purge.md)")
    as_of = (as_of or datetime.now(UTC)).astimezone(UTC)
    store = open_store(project, target)
    key = resolve(project.pii_hash_key, "pii.hash_key").value.encode() if project.pii_hash_key else None
    report = PurgeReport(new_run_id(), as_of.isoformat(), dry_run)
    with tempfile.TemporaryDirectory(prefix="archival-purge-") as work:
        ctx = PurgeContext(project, store, report.run_id, as_of, key, Path(work), dry_run,
                           ignore_quiet_hours, max_rows)
        if dry_run:
            _purge_sources(ctx, selected, report)
        else:
            with TableLocks(store, report.run_id, sorted(t.qualified_name for t in selected)):
                started = datetime.now(UTC).isoformat()
                try:
                    _purge_sources(ctx, selected, report)
                finally:  # what committed is recorded even when a later batch failed
                    report.record = _record(store, report, started)
                    record_head(store, project.root, project.name)
        report.stopped = ctx.stopped
    return report


def _record(store: ArchiveStore, report: PurgeReport, started: str) -> str | None:
    batches = [asdict(b) for p in report.periods for b in p.batches]
    if not batches and not report.settled:
        return None
    failpoint("purge:record")
    return write_run_record(store, {"run_id": report.run_id, "status": "complete", "as_of": report.as_of,
                                    "initiator": initiator(), "started_at": started,
                                    "finished_at": datetime.now(UTC).isoformat(), "batches": batches,
                                    "periods": [p.as_json() for p in report.periods], "settled": report.settled})


def _purge_sources(ctx: PurgeContext, tables: list[Table], report: PurgeReport) -> None:
    project = ctx.project
    by_source: dict[str, list[Table]] = {}
    for table in tables:
        by_source.setdefault(project.source_of_table(table).name, []).append(table)
    for source_name, source_tables in sorted(by_source.items()):
        session = PurgeSession(project.sources[source_name], project.root)
        try:
            for table in source_tables:
                session.check_delete_right(table)
            if not ctx.dry_run:
                report.settled += settle(ctx.store, session, source_tables, ctx.run_id)
            foreign_keys = source_foreign_keys(session.con, session.source, project.root)
            refs: dict[str, Any] = {}
            for domain in {t.domain for t in source_tables}:
                dom = project.domain(domain)
                assert dom is not None
                refs |= references(dom, [t for t in source_tables if t.domain == domain], session.source,
                                   foreign_keys)
            ordered = children_first(source_tables, refs)
            for table in ordered:  # every archive file a purge relies on is checked before anything is deleted
                periods = archived_periods(ctx.store, table.domain, table.name)
                due = due_periods(ctx.store, project.domain(table.domain), table, ctx.as_of)  # type: ignore[arg-type]
                check_archive(ctx, list(periods.values()) if table.mode == "incremental" and due else due)
            for table in ordered:
                _purge_table(ctx, session, table, refs[table.qualified_name], report)
        finally:
            session.close()


def _purge_table(ctx: PurgeContext, session: PurgeSession, table: Table, refs: list, report: PurgeReport) -> None:
    domain = ctx.project.domain(table.domain)
    assert domain is not None and table.purge is not None
    everything = list(archived_periods(ctx.store, table.domain, table.name).values())
    budget = table.purge.max_rows_per_run
    for period in due_periods(ctx.store, domain, table, ctx.as_of):
        outcome = purge_period(ctx, session, domain, table, refs, period, everything, budget)
        report.periods.append(outcome)
        if not ctx.dry_run and (outcome.batches or outcome.kept):
            audit_period(ctx.store, ctx.run_id, outcome, report.as_of, initiator())
        if budget is not None:
            budget -= outcome.deleted
        if ctx.stopped or (budget is not None and budget <= 0) or ctx.remaining == 0:
            break

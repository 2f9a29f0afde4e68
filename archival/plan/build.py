"""Gather what the plan needs (one cheap read-only look at each source, the archive's manifests) and
compile it. `plan` renders the result; `run` executes the same Plan."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from archival.archive.audit_log import completed_runs, rebaselines
from archival.archive.purges import PurgedPeriod, purged_periods
from archival.archive.state import ArchivedPeriod, archived_periods
from archival.archive.store import ArchiveStore
from archival.archive.targets import open_store, target_name
from archival.plan.compile import compile_table, identity_changes, plausible_range
from archival.plan.periods import parse_label
from archival.plan.refresh import Refresh
from archival.plan.repairs import repairs
from archival.plan.units import Plan
from archival.source.probe import ProbeRequest, TableFacts, probe_tables
from archival.spec.model import Project, Table

# Tables whose archive state is read at once. On S3 every read waits for a round trip (20-50 ms), and
# a plan lists and reads each period's manifest, the table's objects and its purges, table by table
ARCHIVE_READERS = 16


def _archived_windows(project: Project, table: Table, archived) -> dict[str, tuple[datetime, datetime]]:
    """[start, end) of each archived calendar period, to count the source's rows in them (late rows)."""
    domain = project.domain(table.domain)
    assert domain is not None and table.period is not None
    ranges = {}
    for label in archived:
        try:
            period = parse_label(label, table.period, domain.timezone)
        except ValueError:
            continue
        ranges[label] = (period.start, period.end)
    return ranges


Held = tuple[dict[str, ArchivedPeriod], dict[str, str], dict[str, PurgedPeriod] | None]


def _held(store: ArchiveStore, table: Table, completed: frozenset[str]) -> Held:
    """What the archive holds for a table: its periods, the ones to repair, its purges (not `full`)."""
    archived = archived_periods(store, table.domain, table.name)
    return (archived, repairs(store, table, archived, completed),
            purged_periods(store, table.domain, table.name, table.primary_key) if table.mode != "full" else None)


def _identity_changed(project: Project, tables: list[Table], archived: dict[str, dict[str, ArchivedPeriod]]) -> bool:
    """Whether a table is keyed otherwise than its archived periods: only then does the plan need the
    rebaselines, which it finds by reading the whole audit chain (one GET an entry on S3, and the chain
    grows with every unit a run publishes)."""
    return any(identity_changes(t, archived[t.qualified_name], project.domain(t.domain).timezone)  # type: ignore[union-attr]
               for t in tables)


def build_plan(project: Project, tables: list[Table], *, target: str | None = None, as_of: datetime | None = None,
               offline: bool = False, selectors: tuple[str, ...] = (), store: ArchiveStore | None = None,
               completed: frozenset[str] | None = None, refresh: Refresh | None = None) -> Plan:
    """`store`, `completed`: the run's archive and its completed runs, when a run already has them.
    `refresh`: archived periods to re-read on purpose (NothingToRefresh when one is not archived)."""
    as_of = (as_of or datetime.now(UTC)).astimezone(UTC)
    store = store or open_store(project, target)
    completed = completed if completed is not None else frozenset(completed_runs(store))
    with ThreadPoolExecutor(ARCHIVE_READERS, thread_name_prefix="plan-archive") as pool:
        held = dict(zip((t.qualified_name for t in tables), pool.map(lambda t: _held(store, t, completed), tables),
                        strict=True))
    archived = {name: periods for name, (periods, _, _) in held.items()}
    if refresh is not None:
        refresh.check(archived)
    if offline:
        facts = {t.qualified_name: TableFacts(problem="not probed (--offline)") for t in tables}
    else:
        requests = {t.qualified_name: ProbeRequest(
            _archived_windows(project, t, archived[t.qualified_name]) if t.mode == "window" else {},
            plausible_range(project, t, as_of) if t.cursor else None) for t in tables}
        facts = probe_tables(project, tables, requests)
    accepted = rebaselines(store) if _identity_changed(project, tables, archived) else {}
    units, notes = [], []
    for table in tables:
        _, repair, purged = held[table.qualified_name]
        u, n = compile_table(project, table, facts[table.qualified_name], archived[table.qualified_name], as_of,
                             accepted.get(table.qualified_name), repair, refresh, purged)
        units += u
        notes += n
    unreachable = sorted({project.source_of_table(t).name for t in tables
                          if not facts[t.qualified_name].reachable})
    return Plan(project=project.name, as_of=as_of, target=target_name(project, target), selectors=selectors,
                units=tuple(units), notes=tuple(notes), offline=offline, unreachable=tuple(unreachable),
                refresh=refresh.reason if refresh else None)

"""Compile tables + facts about the source + the archive's state into ExportUnits. Pure: no I/O, so
`plan` and `run` (and tests) get the same answer from the same inputs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from archival.archive.purges import PurgedPeriod
from archival.archive.state import ArchivedPeriod
from archival.checksums import ALGORITHM as JSON_MD5
from archival.checksums import ROW_WORDS, FingerprintAlgorithm, format_key_checksum
from archival.plan.periods import parse_label, period_containing, periods_between
from archival.plan.refresh import Refresh
from archival.plan.stage_list import shared_transaction, stages_for
from archival.plan.units import NULL_PERIOD, OUT_OF_RANGE, SPECIAL_PERIODS, ExportUnit, PlanNote, UnitStatus, Window
from archival.source.probe import TableFacts
from archival.spec.model import Project, Source, Table, table_fingerprint


def _status(archived: ArchivedPeriod | None, spec_sha: str, refresh: bool) -> tuple[UnitStatus, str]:
    if archived is None:
        return "new", "not archived yet"
    if archived.spec_sha256 != spec_sha:
        return "changed", f"archived (v{archived.version}) under another spec fingerprint"
    if refresh:
        return "refresh", f"re-read; v{archived.version} kept if rows are unchanged"
    return "up_to_date", f"archived as v{archived.version}"


# Rows stamped a little ahead of the run (an app server's clock, naive local time in a column declared
# UTC) are read by a later run; only beyond this margin is a cursor value implausible.
FUTURE_TOLERANCE = timedelta(days=1)


def plausible_range(project: Project, table: Table, as_of: datetime) -> tuple[datetime, datetime]:
    """[start, end) of plausible cursor values: from the start of the period holding `since` (so a
    period is never split) to the run's time plus `lag` plus FUTURE_TOLERANCE. Rows between the end
    of the last readable period (as-of - lag) and that end wait for a later run."""
    domain = project.domain(table.domain)
    assert domain is not None and table.period is not None
    since = table.since
    if not isinstance(since, datetime):
        since = datetime(since.year, since.month, since.day)
    if since.tzinfo is None:
        since = since.replace(tzinfo=ZoneInfo(domain.timezone))
    return period_containing(since, table.period, domain.timezone).start, as_of + table.lag.delta + FUTURE_TOLERANCE


def table_identity(table: Table) -> dict[str, object]:
    """What archived periods are keyed by. Changing it after data is archived needs `archival rebaseline`."""
    return {"mode": table.mode, "cursor": list(table.cursor), "primary_key": list(table.primary_key),
            "period": table.period}


def identity_changes(table: Table, archived: dict[str, ArchivedPeriod], tz: str) -> list[str]:
    changes = set()
    for label, period in archived.items():
        if label in SPECIAL_PERIODS:
            continue
        if period.mode and period.mode != table.mode:
            changes.add(f"mode {period.mode} -> {table.mode}")
        if period.primary_key and list(period.primary_key) != list(table.primary_key):
            changes.add(f"primary_key {list(period.primary_key)} -> {list(table.primary_key)}")
        if period.cursor and list(period.cursor) != list(table.cursor):
            changes.add(f"cursor {list(period.cursor)} -> {list(table.cursor)}")
        if table.period and label != "full":
            try:
                parse_label(label, table.period, tz)
            except ValueError:
                changes.add(f"period: archived label {label} is not a {table.period}")
    return sorted(changes)


class _UnitMaker:
    """Makes the ExportUnits of one table (all share its mode, source and spec fingerprint)."""

    def __init__(self, table: Table, source: Source, sha: str, archived: dict[str, ArchivedPeriod],
                 shared: str | None, repairs: dict[str, str], refresh: Refresh | None):
        self.table, self.source, self.sha, self.archived, self.shared = table, source, sha, archived, shared
        self.repairs, self.refresh = repairs, refresh
        self.refreshed = refresh.periods(table.qualified_name, archived) if refresh else frozenset()
        self.unreachable = False
        self.purged: dict[str, PurgedPeriod] = {}

    def __call__(self, period: str, status: UnitStatus, reason: str, window: Window | None = None) -> ExportUnit:
        current = self.archived.get(period)
        delta = (current is not None and current.spec_sha256 == self.sha and self.table.mode != "full"
                 and period not in SPECIAL_PERIODS)
        refresh = self.refresh.reason if self.refresh and period in self.refreshed else None
        return ExportUnit(self.table.domain, self.table.name, period, self.table.mode, self.source.name, self.sha,
                          status, reason, window, current.version if current else None,
                          delta=delta and refresh is None, shared_transaction=self.shared, refresh=refresh,
                          rewrite=delta and refresh is not None,
                          fingerprint_algorithm=self._fingerprint_algorithm(current, refresh))

    def _fingerprint_algorithm(self, current: ArchivedPeriod | None, refresh: str | None) -> FingerprintAlgorithm:
        """A period keeps its current version's algorithm while that version stands (a delta adds to its
        sums; a rerun of unchanged rows must compare equal and write nothing); a new period, a new
        spec or a refresh gets the newest one. CSV keeps v1: it is read back through DuckDB's casts."""
        if current is not None and current.spec_sha256 == self.sha and refresh is None:
            return current.manifest.fingerprint.algorithm
        return ROW_WORDS if self.table.format == "parquet" else JSON_MD5

    def staged(self, units: list[ExportUnit]) -> list[ExportUnit]:
        """The units with their stage lists (the last step, once detect_deletes and the like are set)."""
        return [replace(u, stages=stages_for(u, self.table, self.source)) for u in units]

    def status(self, period: str, refresh: bool) -> tuple[UnitStatus, str]:
        asked = period in self.refreshed
        status, reason = _status(self.archived.get(period), self.sha, refresh or asked or period in self.repairs)
        if status == "up_to_date" and self.unreachable:
            return "unknown", f"archived as v{self.archived[period].version}; not checked: the source did not answer"
        if asked:
            assert self.refresh is not None
            reason = f"refresh asked for ({self.refresh.reason}); {reason}"
        return status, (f"{self.repairs[period]}; {reason}" if period in self.repairs else reason)


def compile_table(project: Project, table: Table, facts: TableFacts, archived: dict[str, ArchivedPeriod],
                  as_of: datetime, accepted_identity: dict[str, object] | None = None,
                  repairs: dict[str, str] | None = None,
                  refresh: Refresh | None = None,
                  purged: dict[str, PurgedPeriod] | None = None) -> tuple[list[ExportUnit], list[PlanNote]]:
    """`repairs`: periods an interrupted run left unfinished (plan/repairs.py): their units are due.
    `refresh`: periods re-read on purpose (plan/refresh.py). `purged`: what `archival purge` took out
    of each period's source rows."""
    domain = project.domain(table.domain)
    assert domain is not None
    source = project.source_of(domain)
    unit = _UnitMaker(table, source, table_fingerprint(table, source), archived,
                      shared_transaction(domain, table, source), repairs or {}, refresh)
    unit.unreachable = not facts.reachable
    unit.purged = purged or {}
    units, notes = _table_units(project, table, facts, as_of, accepted_identity, unit)
    return unit.staged(_keep_purged(table, units, unit.purged, notes)), notes


def _keep_purged(table: Table, units: list[ExportUnit], purged: dict[str, PurgedPeriod],
                 notes: list[PlanNote]) -> list[ExportUnit]:
    """A purged period's rows exist only in the archive: it may gain versions (delta), never be
    written again from the source alone (a new spec, a refresh), which would drop them."""
    kept = []
    for u in units:
        if u.period in purged and u.archived_version is not None and (u.rewrite or not u.delta):
            notes.append(PlanNote(table.qualified_name, "warning", f"period {u.period}: {purged[u.period].rows} "
                                  f"row(s) were purged from the source, so it is not re-read ({u.reason}); its "
                                  f"archived v{u.archived_version} stays current"))
            continue
        kept.append(u)
    return kept


def _table_units(project: Project, table: Table, facts: TableFacts, as_of: datetime,
                 accepted_identity: dict[str, object] | None,
                 unit: _UnitMaker) -> tuple[list[ExportUnit], list[PlanNote]]:
    domain = project.domain(table.domain)
    assert domain is not None
    archived = unit.archived
    notes: list[PlanNote] = []
    name = table.qualified_name
    if facts.problem:
        notes.append(PlanNote(name, "error" if facts.probed else "warning", facts.problem))

    changes = identity_changes(table, archived, domain.timezone)
    if changes and accepted_identity != table_identity(table):
        notes.append(PlanNote(name, "error", f"{table.location}: {', '.join(changes)} after data was archived; "
                              f"refused until `archival rebaseline --select table:{name}` is run on purpose"))
        return [], notes

    if table.mode == "full":
        status, reason = unit.status("full", refresh=True)
        return [unit("full", status, "whole table; " + reason)], notes

    plausible = plausible_range(project, table, as_of)
    early = sorted(label for label, period in archived.items() if label not in SPECIAL_PERIODS
                   and _period_start(label, table, domain.timezone) < plausible[0])
    if early:
        notes.append(PlanNote(name, "error", f"{table.location}: since {table.since} is after archived period(s) "
                              f"{', '.join(early[:3])}: their rows would be archived twice; lower `since`"))
        return [], notes
    special = _null_unit(table, facts, unit) + _out_of_range_unit(table, facts, unit, plausible, notes)
    first = _first_instant(table, facts, archived, domain.timezone)
    if first is None:
        if facts.problem is None:
            notes.append(PlanNote(name, "info", "every cursor value lies outside the plausible range: no period to "
                                  "archive" if special else "source table is empty: nothing to archive yet"))
        elif not archived:
            notes.append(PlanNote(name, "warning", "first period unknown until the source can be read"))
        return special, notes
    if table.mode == "window":
        return _window_units(table, facts, unit, first, as_of, domain.timezone, notes) + special, notes
    return _incremental_units(table, unit, first, as_of, domain.timezone) + special, notes


def _window_units(table: Table, facts: TableFacts, unit: _UnitMaker, first: datetime, as_of: datetime, tz: str,
                  notes: list[PlanNote]) -> list[ExportUnit]:
    """Each closed period once; again when the source's rows or keys in it differ from the archive's."""
    assert table.period is not None
    counts, units = facts.range_counts or {}, []
    for period in periods_between(first, as_of - table.lag.delta, table.period, tz):
        if not period.closed(as_of, table.lag.delta):
            notes.append(PlanNote(table.qualified_name, "info", f"period {period.label} is open; it closes at "
                                  f"{(period.end + table.lag.delta).isoformat()}"))
            break
        archived_period = unit.archived.get(period.label)
        status, reason = unit.status(period.label, refresh=False)
        source_rows, source_keys = counts.get(period.label, (None, None))
        if status == "up_to_date" and source_rows is not None and _differs(archived_period, source_rows, source_keys,
                                                                          unit.purged.get(period.label)):
            status, reason = "changed", (f"source holds {source_rows} rows, the archive {archived_period.live_rows}"
                                         " (or other keys): late rows or deletes")
        units.append(unit(period.label, status, reason, Window(table.cursor, period.start, period.end)))
    return units


def _differs(archived: ArchivedPeriod, source_rows: int, source_keys: str | None, purged: PurgedPeriod | None) -> bool:
    """Does a window period's source differ from what the archive expects it to hold: its live keys,
    minus those a purge took out?"""
    rows, keys = archived.live_rows, archived.key_checksum
    if purged is not None:
        rows -= purged.rows
        keys = format_key_checksum(int(keys, 16) - purged.key_checksum) if keys else None
    return source_rows != rows or (keys is not None and source_keys != keys)


def _incremental_units(table: Table, unit: _UnitMaker, first: datetime, as_of: datetime,
                       tz: str) -> list[ExportUnit]:
    """Every period that [watermark - lookback, now - lag) reaches is re-read from there."""
    assert table.period is not None
    upper = as_of - table.lag.delta  # never read rows newer than now - lag
    watermark = _watermark(unit.archived)
    reread_from = watermark - table.lookback.delta if watermark else None
    units = []
    for period in periods_between(first, upper, table.period, tz):
        touched = reread_from is None or period.end > reread_from
        status, reason = unit.status(period.label, refresh=touched)
        start = period.start
        if touched and status == "refresh" and reread_from is not None and period.label not in unit.refreshed:
            start = max(period.start, reread_from)
            reason = f"re-read from {reread_from.isoformat()} (watermark - lookback); " + reason
        units.append(unit(period.label, status, reason, Window(table.cursor, start, min(period.end, upper))))
    if units and unit.archived:  # the latest period also looks for keys that left the source (hard deletes)
        last = units[-1]
        units[-1] = replace(last, status="refresh" if last.status == "up_to_date" else last.status,
                            reason=last.reason + "; checks for deleted keys", detect_deletes=True)
    return units


def _null_unit(table: Table, facts: TableFacts, unit: _UnitMaker) -> list[ExportUnit]:
    """Rows whose cursor is NULL are never dropped: their own `period=null` snapshot, or a failing
    unit when the table's policy is `fail`."""
    if not facts.null_rows and NULL_PERIOD not in unit.archived:
        return []
    if table.null_cursor == "fail":
        return [unit(NULL_PERIOD, "new", f"{facts.null_rows} row(s) with a NULL cursor; null_cursor: fail")]
    status, reason = unit.status(NULL_PERIOD, refresh=True)
    return [unit(NULL_PERIOD, status, f"{facts.null_rows or 0} row(s) with a NULL cursor; " + reason)]


def _out_of_range_unit(table: Table, facts: TableFacts, unit: _UnitMaker, plausible: tuple[datetime, datetime],
                       notes: list[PlanNote]) -> list[ExportUnit]:
    """Rows whose cursor lies outside the plausible range go through the contract as invalid rows
    (`on_invalid`: fail, quarantine or warn) in one unit of their own, re-read every run, so they
    neither stretch the calendar nor vanish; once none are left its period empties."""
    outside = facts.out_of_range
    if not (outside and outside.rows) and OUT_OF_RANGE not in unit.archived:
        return []
    start, end = plausible
    if outside and outside.rows:
        extremes = ", ".join(f"{what} {moment.isoformat()}" for what, moment in
                             (("earliest", outside.earliest), ("latest", outside.latest)) if moment is not None)
        notes.append(PlanNote(table.qualified_name, "warning",
                              f"{outside.rows} row(s) with a cursor outside the plausible range [{start.isoformat()}, "
                              f"{end.isoformat()}) ({extremes}): they go to on_invalid ({table.on_invalid}) in "
                              f"period={OUT_OF_RANGE}; set `since:` if earlier rows are real"))
    status, reason = unit.status(OUT_OF_RANGE, refresh=True)
    rows = outside.rows if outside else "?"
    return [unit(OUT_OF_RANGE, status, f"{rows} row(s) with an implausible cursor; {reason}",
                 Window(table.cursor, start, end))]


def _period_start(label: str, table: Table, tz: str) -> datetime:
    try:
        return parse_label(label, table.period, tz).start  # type: ignore[arg-type]
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)  # another grain: identity_changes reports it


def _first_instant(table: Table, facts: TableFacts, archived: dict[str, ArchivedPeriod], tz: str) -> datetime | None:
    candidates = [facts.earliest] if facts.earliest else []
    for label in archived:
        try:
            candidates.append(parse_label(label, table.period, tz).start)  # type: ignore[arg-type]
        except ValueError:
            continue  # `null` and labels of another grain are not calendar periods of this spec
    return min(candidates) if candidates else None


def _watermark(archived: dict[str, ArchivedPeriod]) -> datetime | None:
    marks = [datetime.fromisoformat(a.watermark) for a in archived.values() if a.watermark]
    return max(marks) if marks else None

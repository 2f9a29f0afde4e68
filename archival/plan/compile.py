"""Compile tables + facts about the source + the archive's state into ExportUnits. Pure: no I/O, so
`plan` and `run` (and tests) get the same answer from the same inputs."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from archival.archive.state import ArchivedPeriod
from archival.plan.periods import parse_label, periods_between
from archival.plan.units import ExportUnit, PlanNote, UnitStatus, Window
from archival.source.probe import TableFacts
from archival.spec.model import Project, Table, table_fingerprint

NULL_PERIOD = "null"


def _status(archived: ArchivedPeriod | None, spec_sha: str, refresh: bool) -> tuple[UnitStatus, str]:
    if archived is None:
        return "new", "not archived yet"
    if archived.spec_sha256 != spec_sha:
        return "changed", f"archived (v{archived.version}) under another spec fingerprint"
    if refresh:
        return "refresh", f"re-read; v{archived.version} kept if rows are unchanged"
    return "up_to_date", f"archived as v{archived.version}"


def table_identity(table: Table) -> dict[str, object]:
    """What archived periods are keyed by. Changing it after data is archived needs `archival rebaseline`."""
    return {"mode": table.mode, "cursor": list(table.cursor), "primary_key": list(table.primary_key),
            "period": table.period}


def identity_changes(table: Table, archived: dict[str, ArchivedPeriod], tz: str) -> list[str]:
    changes = set()
    for label, period in archived.items():
        if label == NULL_PERIOD:
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


def compile_table(project: Project, table: Table, facts: TableFacts, archived: dict[str, ArchivedPeriod],
                  as_of: datetime, accepted_identity: dict[str, object] | None = None
                  ) -> tuple[list[ExportUnit], list[PlanNote]]:
    domain = project.domain(table.domain)
    assert domain is not None
    source = project.source_of(domain)
    sha = table_fingerprint(table, source)
    notes: list[PlanNote] = []
    name = table.qualified_name

    def unit(period: str, status: UnitStatus, reason: str, window: Window | None = None) -> ExportUnit:
        version = archived[period].version if period in archived else None
        return ExportUnit(table.domain, table.name, period, table.mode, source.name, sha, status, reason, window,
                          version)

    if facts.problem:
        notes.append(PlanNote(name, "error" if facts.probed else "warning", facts.problem))

    changes = identity_changes(table, archived, domain.timezone)
    if changes and accepted_identity != table_identity(table):
        notes.append(PlanNote(name, "error", f"{table.location}: {', '.join(changes)} after data was archived; "
                              f"refused until `archival rebaseline --select table:{name}` is run on purpose"))
        return [], notes

    if table.mode == "full":
        status, reason = _status(archived.get("full"), sha, refresh=True)
        return [unit("full", status, "whole table; " + reason)], notes

    assert table.period is not None
    tz = domain.timezone
    upper = as_of - table.lag.delta  # never read rows newer than now - lag
    first = _first_instant(table, facts, archived, tz)
    if first is None:
        if facts.problem is None:
            notes.append(PlanNote(name, "info", "source table is empty: nothing to archive yet"))
        elif not archived:
            notes.append(PlanNote(name, "warning", "first period unknown until the source can be read"))
        return _null_unit(table, facts, archived, unit, sha), notes

    units = []
    if table.mode == "window":
        counts = facts.range_counts or {}
        for period in periods_between(first, upper, table.period, tz):
            if not period.closed(as_of, table.lag.delta):
                notes.append(PlanNote(name, "info", f"period {period.label} is open; it closes at "
                                      f"{(period.end + table.lag.delta).isoformat()}"))
                break
            archived_period = archived.get(period.label)
            status, reason = _status(archived_period, sha, refresh=False)
            source_rows, source_keys = counts.get(period.label, (None, None))
            if status == "up_to_date" and source_rows is not None and (
                    source_rows != archived_period.live_rows
                    or (archived_period.key_checksum and source_keys != archived_period.key_checksum)):
                status, reason = "changed", (f"source holds {source_rows} rows, the archive {archived_period.live_rows}"
                                             " (or other keys): late rows or deletes")
            units.append(unit(period.label, status, reason, Window(table.cursor, period.start, period.end)))
        return units + _null_unit(table, facts, archived, unit, sha), notes

    # incremental: every period that [watermark - lookback, now - lag) reaches is re-read from there
    watermark = _watermark(archived)
    reread_from = watermark - table.lookback.delta if watermark else None
    for period in periods_between(first, upper, table.period, tz):
        touched = reread_from is None or period.end > reread_from
        status, reason = _status(archived.get(period.label), sha, refresh=touched)
        start = period.start
        if touched and status == "refresh" and reread_from is not None:
            start = max(period.start, reread_from)
            reason = f"re-read from {reread_from.isoformat()} (watermark - lookback); " + reason
        units.append(unit(period.label, status, reason, Window(table.cursor, start, min(period.end, upper))))
    if units and archived:  # the latest period also looks for keys that left the source (hard deletes)
        last = units[-1]
        units[-1] = replace(last, status="refresh" if last.status == "up_to_date" else last.status,
                            reason=last.reason + "; checks for deleted keys", detect_deletes=True)
    return units + _null_unit(table, facts, archived, unit, sha), notes


def _null_unit(table: Table, facts: TableFacts, archived: dict[str, ArchivedPeriod], unit,
               sha: str) -> list[ExportUnit]:
    """Rows whose cursor is NULL are never dropped: their own `period=null` snapshot, or a failing
    unit when the table's policy is `fail`."""
    if not facts.null_rows and NULL_PERIOD not in archived:
        return []
    if table.null_cursor == "fail":
        return [unit(NULL_PERIOD, "new", f"{facts.null_rows} row(s) with a NULL cursor; null_cursor: fail")]
    status, reason = _status(archived.get(NULL_PERIOD), sha, refresh=True)
    return [unit(NULL_PERIOD, status, f"{facts.null_rows or 0} row(s) with a NULL cursor; " + reason)]


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

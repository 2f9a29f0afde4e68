"""Run metrics as an OpenMetrics/Prometheus text file (for a node-exporter textfile collector or a
Pushgateway), written atomically by prometheus_client. Per table and per run; not per period, to
keep label cardinality bounded. Each generated deployment writes its own file (one domain each).

What alerting needs beyond one run is carried from the file the previous run left: when each table
last succeeded and how many runs in a row it failed (docs/operations.md: alert classes). What the
archive holds is read from its manifests: the end of each table's newest archived period and bytes
per tier; and each table's schedule interval, from its domain's cron."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from prometheus_client.parser import text_string_to_metric_families

from archival.archive.state import archived_periods
from archival.archive.store import ArchiveStore
from archival.spec.model import Project

CARRIED = ("archival_table_last_success_timestamp_seconds", "archival_table_consecutive_failed_runs")


def _previous(path: Path) -> dict[str, dict[str, float]]:
    """metric -> table -> value, of the carried metrics in the file the previous run wrote."""
    found: dict[str, dict[str, float]] = defaultdict(dict)
    if not path.exists():
        return found
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            if sample.name in CARRIED and "table" in sample.labels:
                found[sample.name][sample.labels["table"]] = sample.value
    return found


def schedule_seconds(cron: str, tz: str) -> float:
    """The interval of a cron schedule (the next two fire times apart)."""
    from zoneinfo import ZoneInfo

    from croniter import croniter

    it = croniter(cron, datetime.now(ZoneInfo(tz)))
    first = it.get_next(datetime)
    return (it.get_next(datetime) - first).total_seconds()


def _archive_gauges(registry: CollectorRegistry, project: Project, store: ArchiveStore, tables: set[str]) -> None:
    labels = ["project", "table"]
    newest = Gauge("archival_table_newest_period_end_timestamp_seconds", "end of the newest archived calendar period "
                   "(data age = now minus this)", labels, registry=registry)
    tiers = Gauge("archival_table_stored_bytes", "bytes of the current manifests' files, per storage tier",
                  [*labels, "tier"], registry=registry)
    every = Gauge("archival_table_schedule_seconds", "interval of the table's domain schedule", labels,
                  registry=registry)
    for domain in project.domains:
        for table in domain.tables:
            name = table.qualified_name
            if name not in tables:
                continue
            if domain.schedule is not None:
                every.labels(project.name, name).set(schedule_seconds(domain.schedule.cron, domain.schedule.timezone))
            per_tier: dict[str, int] = defaultdict(int)
            ends = []
            for archived in archived_periods(store, table.domain, table.name).values():
                manifest = archived.manifest
                if manifest.expiry is None:
                    per_tier[manifest.storage_tier or table.tier] += sum(f.bytes for f in manifest.files)
                if manifest.window is not None and table.mode != "full":
                    ends.append(datetime.fromisoformat(manifest.window.end))
            for tier, size in per_tier.items():
                tiers.labels(project.name, name, tier).set(size)
            if ends:
                newest.labels(project.name, name).set(max(ends).astimezone(UTC).timestamp())


def write_metrics(path: Path, project_name: str, run_id: str, results: list, seconds: float,
                  project: Project | None = None, store: ArchiveStore | None = None) -> None:
    """`project`, `store`: also the archive's facts and the schedules (what staleness alerts need)."""
    registry = CollectorRegistry()
    previous = _previous(path)
    now = time.time()
    by_table: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    outcomes: dict[str, int] = defaultdict(int)
    stages: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in results:
        table = r.unit_id.split("/", 1)[0]
        by_table[table]["rows"] += r.rows
        by_table[table]["bytes"] += r.bytes
        by_table[table]["seconds"] += r.seconds
        by_table[table]["retries"] += max(0, int(r.details.get("attempts", 1)) - 1)
        by_table[table]["failed"] += r.outcome == "failed"
        by_table[table]["quarantined_rows"] += int(r.details.get("quarantined", 0))
        outcomes[r.outcome] += 1
        for stage, secs in r.stages.items():
            stages[table][stage] += secs
    labels = ["project", "table"]
    gauges = {key: Gauge(f"archival_table_{key}", help_text, labels, registry=registry) for key, help_text in (
        ("rows", "rows written by the last run"), ("bytes", "bytes written by the last run"),
        ("seconds", "seconds spent by the last run's units"), ("retries", "retries in the last run"),
        ("failed", "units that failed in the last run (after their retries)"),
        ("quarantined_rows", "rows the last run set aside as invalid"))}
    succeeded = Gauge(CARRIED[0], "when a run last finished every unit of the table", labels, registry=registry)
    streak = Gauge(CARRIED[1], "runs in a row in which a unit of the table failed", labels, registry=registry)
    for table, values in by_table.items():
        for key, gauge in gauges.items():
            gauge.labels(project_name, table).set(values[key])
    # a table the last file knew that had no due unit this time: the run covered it, nothing failed
    for table in sorted(set(by_table) | set(previous[CARRIED[0]]) | set(previous[CARRIED[1]])):
        failed = by_table[table]["failed"] > 0 if table in by_table else False
        last = previous[CARRIED[0]].get(table)
        if not failed or last is not None:
            succeeded.labels(project_name, table).set(last if failed else now)
        streak.labels(project_name, table).set(previous[CARRIED[1]].get(table, 0) + 1 if failed else 0)
    stage_gauge = Gauge("archival_table_stage_seconds", "seconds the last run's units spent per stage of their "
                        "stage list (snapshot, read, versions, departures, contract, pii, fingerprint, parts, record)",
                        [*labels, "stage"], registry=registry)
    for table, per_stage in stages.items():
        for stage, secs in per_stage.items():
            stage_gauge.labels(project_name, table, stage).set(secs)
    units = Gauge("archival_run_units", "units of the last run by outcome", ["project", "outcome"], registry=registry)
    for outcome, n in outcomes.items():
        units.labels(project_name, outcome).set(n)
    done = sum(1 for r in results if r.outcome in ("written", "unchanged"))
    tried = sum(1 for r in results if r.outcome != "deferred")
    Gauge("archival_run_success_ratio", "units that succeeded / units tried", ["project"],
          registry=registry).labels(project_name).set(done / tried if tried else 1.0)
    Gauge("archival_run_duration_seconds", "wall time of the last run", ["project"],
          registry=registry).labels(project_name).set(seconds)
    Gauge("archival_run_rows_per_second", "rows written per unit-second in the last run", ["project"],
          registry=registry).labels(project_name).set(
        sum(r.rows for r in results) / max(sum(r.seconds for r in results), 1e-9))
    Gauge("archival_run_finished_timestamp_seconds", "when the last run finished", ["project", "run_id"],
          registry=registry).labels(project_name, run_id).set(now)
    if project is not None and store is not None:
        _archive_gauges(registry, project, store, set(by_table) | set(previous[CARRIED[0]]))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)

"""Run metrics as an OpenMetrics/Prometheus text file (for a node-exporter textfile collector or a
Pushgateway), written atomically by prometheus_client. Per table and per run; not per period, to
keep label cardinality bounded."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile


def write_metrics(path: Path, project: str, run_id: str, results: list, seconds: float) -> None:
    registry = CollectorRegistry()
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
        outcomes[r.outcome] += 1
        for stage, secs in r.stages.items():
            stages[table][stage] += secs
    labels = ["project", "table"]
    gauges = {key: Gauge(f"archival_table_{key}", help_text, labels, registry=registry) for key, help_text in (
        ("rows", "rows written by the last run"), ("bytes", "bytes written by the last run"),
        ("seconds", "seconds spent by the last run's units"), ("retries", "retries in the last run"),
        ("failed", "units that failed in the last run"))}
    for table, values in by_table.items():
        for key, gauge in gauges.items():
            gauge.labels(project, table).set(values[key])
    stage_gauge = Gauge("archival_table_stage_seconds", "seconds the last run's units spent per stage of their "
                        "stage list (snapshot, read, versions, departures, contract, pii, fingerprint, parts, record)",
                        [*labels, "stage"], registry=registry)
    for table, per_stage in stages.items():
        for stage, secs in per_stage.items():
            stage_gauge.labels(project, table, stage).set(secs)
    units = Gauge("archival_run_units", "units of the last run by outcome", ["project", "outcome"], registry=registry)
    for outcome, n in outcomes.items():
        units.labels(project, outcome).set(n)
    done = sum(1 for r in results if r.outcome in ("written", "unchanged"))
    tried = sum(1 for r in results if r.outcome != "deferred")
    Gauge("archival_run_success_ratio", "units that succeeded / units tried", ["project"],
          registry=registry).labels(project).set(done / tried if tried else 1.0)
    Gauge("archival_run_duration_seconds", "wall time of the last run", ["project"],
          registry=registry).labels(project).set(seconds)
    Gauge("archival_run_rows_per_second", "rows written per unit-second in the last run", ["project"],
          registry=registry).labels(project).set(
        sum(r.rows for r in results) / max(sum(r.seconds for r in results), 1e-9))
    Gauge("archival_run_finished_timestamp_seconds", "when the last run finished", ["project", "run_id"],
          registry=registry).labels(project, run_id).set(time.time())
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)

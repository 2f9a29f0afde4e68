"""`archival run` as a user times it, against raw DuckDB COPY: a 5M-row PostgreSQL table with a
contract, the HMAC of one text column and the row fingerprint, each a whole process (interpreter,
imports, plan, export, record), alternating in rounds so a busy moment hits each alike:

- DuckDB COPY of the table to one Parquet file (a process: interpreter, extension load, COPY);
- `archival run` direct (no Prefect server configured);
- `archival run` as a flow against a running Prefect server (PostgreSQL-backed).

Then the ratio expected on 8 and 16 cores, from the direct run's stage clock: the stages that run
on DuckDB's threads (contract, PII hash, fingerprint, parts) divided by cores/2, the rest (start-up,
plan, the read from one PostgreSQL connection, publish) as measured; COPY, bound by its one
connection, as measured. An estimate from this machine's figures, not a measurement.

    python bench/run_vs_copy.py --rows 5000000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DUCKDB_COPY_JOB, prefect_server, temp_database, write_project, write_report
from export_pg import SPEC, TABLE_SQL

PARALLEL = ("contract", "pii", "fingerprint", "parts")


def timed(args: list[str], env: dict) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **env})
    if done.returncode:
        raise SystemExit(f"{' '.join(args[:3])} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def archival_run(folder: Path, env: dict) -> tuple[float, dict]:
    """Wall seconds of a fresh run into an empty archive, and the unit's stage clock."""
    for path in sorted((folder / "archive").rglob("*"), reverse=True) if (folder / "archive").exists() else []:
        path.unlink() if path.is_file() else path.rmdir()
    seconds = timed([str(Path(sys.executable).parent / "archival"), "run", "--project-dir", str(folder),
                     "--no-progress"], env)
    record = json.loads(next((folder / "archive" / "_runs").glob("*.json")).read_bytes())
    [unit] = record["units"]
    return seconds, {"unit_seconds": unit["seconds"], **unit["stages"]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"copy": [], "direct": [], "flow": []}
    clocks: list[dict] = []
    flow_clocks: list[dict] = []
    with temp_database(TABLE_SQL.format(rows=args.rows)) as dsn, tempfile.TemporaryDirectory() as tmp:
        folder = write_project(Path(tmp) / "p", SPEC)
        env = {"BENCH_DSN": dsn, "ARCHIVAL_PII_KEY": "bench", "PREFECT_HOME": f"{tmp}/home",
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        env_direct = {**env, "PREFECT_API_URL": ""}
        with prefect_server("postgres", Path(tmp) / "server") as (api_url, _):
            for i in range(args.repeat):
                times["copy"].append(timed([sys.executable, "-c", DUCKDB_COPY_JOB, "postgres", dsn, "public.tickets",
                                            f"{tmp}/raw.parquet"], env))
                seconds, clock = archival_run(folder, env_direct)
                times["direct"].append(seconds)
                clocks.append(clock)
                seconds, flow_clock = archival_run(folder, {**env, "PREFECT_API_URL": api_url})
                times["flow"].append(seconds)
                flow_clocks.append(flow_clock)
                print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True)
    median = {k: statistics.median(v) for k, v in times.items()}
    stages = {s: statistics.median(c.get(s, 0.0) for c in clocks) for s in {k for c in clocks for k in c}}
    flow_stages = {s: statistics.median(c.get(s, 0.0) for c in flow_clocks) for s in stages}
    parallel = sum(stages.get(s, 0.0) for s in PARALLEL)
    serial = median["direct"] - parallel
    cores = os.cpu_count() or 2
    lines = [f"# archival run vs DuckDB COPY: {args.rows:,} rows, PostgreSQL, {args.repeat} rounds, {cores} cores",
             "", "| process | median s | ratio to COPY |", "|---|---:|---:|"]
    for name, label in (("copy", "DuckDB COPY to Parquet (a process)"), ("direct", "`archival run` direct"),
                        ("flow", "`archival run` flow, running Prefect server")):
        lines.append(f"| {label} | {median[name]:.2f} | {median[name] / median['copy']:.2f}x |")
    lines += ["", "Stage clock of the direct run's unit (median s): " +
              ", ".join(f"{k} {v:.2f}" for k, v in sorted(stages.items()) if k != "unit_seconds") +
              f"; unit {stages['unit_seconds']:.2f} of {median['direct']:.2f} s wall.", "",
              "The flow's unit: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(flow_stages.items())
                                             if k != "unit_seconds") +
              f"; unit {flow_stages['unit_seconds']:.2f} of {median['flow']:.2f} s wall.", "",
              f"Expected on more cores (threaded stages {parallel:.2f} s / (cores/{cores}), the rest {serial:.2f} s "
              "as measured, COPY as measured):", ""]
    for more in (8, 16):
        direct = serial + parallel * cores / more
        flow = direct + median["flow"] - median["direct"]
        lines.append(f"- {more} cores: direct {direct:.1f} s ({direct / median['copy']:.2f}x), flow {flow:.1f} s "
                     f"({flow / median['copy']:.2f}x)")
    write_report("run-vs-copy", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

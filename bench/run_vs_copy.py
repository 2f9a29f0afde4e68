"""`archival run` as a user times it, against raw DuckDB COPY: a 5M-row PostgreSQL table with a
contract, the HMAC of one text column and the row fingerprint, each a whole process (interpreter,
imports, plan, export, record), alternating in rounds so a busy moment hits each alike:

- DuckDB COPY of the table to one Parquet file (a process: interpreter, extension load, COPY);
- `archival run` direct (no Prefect server configured);
- `archival run` as a flow against a running Prefect server (PostgreSQL-backed);
- both again with `limits: {parallel_reads: 2}` (two connections in one snapshot, extract/ranges.py).

Every process runs from archival installed as a user installs it (bench/.user-venv, no dev extras:
common.user_install), so no test library is imported into a timed run.

Each process's CPU time (its own and its children's) and that of the PostgreSQL backends it used
(the postmaster's finished children, where /proc shows them) say how much of the gap is work and how
much is cores waiting: on two cores a run can take no less than its CPU seconds / 2.

Then the ratio expected on 8 and 16 cores, from the direct run's stage clock. The unit runs as two
halves (run/tail.py): the reader (read, contract) and the tail (pii, fingerprint, parts), and its
pace is the longer half. The stages that use every core (contract, pii, fingerprint, parts) shrink
by cores/2; the read from one PostgreSQL connection does not, nor does the rest (start-up, plan,
snapshot, publish); COPY, bound by its one connection, as measured. On two cores the read's wait
includes cores the tail holds, so the estimate errs high. An estimate, not a measurement.

    python bench/run_vs_copy.py --rows 5000000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from common import DUCKDB_COPY_JOB, bench_env, prefect_server, temp_database, user_install, write_project, write_report
from export_pg import SPEC, TABLE_SQL

SCALES = ("contract", "pii", "fingerprint", "parts")  # on every core: polars, DuckDB, Arrow
TAIL = ("pii", "fingerprint", "parts")  # the stream's second thread (run/tail.py); the reader has read, contract


def postmaster_stat(dsn: str) -> Path | None:
    """/proc's stat file of the PostgreSQL server behind `dsn` when this user can read it (the
    bench's own machine), else None: its children's CPU is that of the backends that ended."""
    with psycopg.connect(dsn) as con:
        folder = con.execute("SHOW data_directory").fetchone()[0]
    try:
        pid = Path(folder, "postmaster.pid").read_text().split()[0]
    except OSError:
        return None
    stat = Path(f"/proc/{pid}/stat")
    return stat if stat.exists() else None


def children_cpu(stat: Path | None) -> float | None:
    if stat is None:
        return None
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")  # cutime + cstime


CPU: dict[str, list[tuple[float, float | None]]] = {}  # process -> (its CPU s, PostgreSQL backends' CPU s)


def timed(args: list[str], env: dict, name: str = "", server: Path | None = None) -> float:
    before, pg_before = resource.getrusage(resource.RUSAGE_CHILDREN), children_cpu(server)
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **env})
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{' '.join(args[:3])} failed:\n{done.stderr[-3000:]}")
    after, pg_after = resource.getrusage(resource.RUSAGE_CHILDREN), children_cpu(server)
    own = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    CPU.setdefault(name, []).append((own, None if pg_before is None or pg_after is None else pg_after - pg_before))
    return seconds


def archival_run(folder: Path, env: dict, archival: Path, name: str, server: Path | None) -> tuple[float, dict]:
    """Wall seconds of a fresh run into an empty archive, and the unit's stage clock."""
    for path in sorted((folder / "archive").rglob("*"), reverse=True) if (folder / "archive").exists() else []:
        path.unlink() if path.is_file() else path.rmdir()
    seconds = timed([str(archival), "run", "--project-dir", str(folder), "--no-progress"], env, name, server)
    record = json.loads(next((folder / "archive" / "_runs").glob("*.json")).read_bytes())
    [unit] = record["units"]
    return seconds, {"unit_seconds": unit["seconds"], **unit["stages"]}


PROCESSES = {"copy": "DuckDB COPY to Parquet (a process)", "direct": "`archival run` direct",
             "flow": "`archival run` flow, running Prefect server",
             "direct2": "`archival run` direct, parallel_reads: 2",
             "flow2": "`archival run` flow, parallel_reads: 2"}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bin_dir = user_install()
    times: dict[str, list[float]] = {name: [] for name in PROCESSES}
    clocks: dict[str, list[dict]] = {name: [] for name in PROCESSES if name != "copy"}
    with temp_database(TABLE_SQL.format(rows=args.rows)) as dsn, tempfile.TemporaryDirectory() as tmp:
        one = write_project(Path(tmp) / "p", SPEC)
        two = write_project(Path(tmp) / "p2", SPEC, extra="limits: {parallel_reads: 2}\n")
        server = postmaster_stat(dsn)
        env = bench_env(dsn, tmp)
        with prefect_server("postgres", Path(tmp) / "server") as (api_url, _):
            direct, flow = {**env, "PREFECT_API_URL": ""}, {**env, "PREFECT_API_URL": api_url}
            runs = {"direct": (one, direct), "flow": (one, flow), "direct2": (two, direct), "flow2": (two, flow)}
            for i in range(args.repeat):
                times["copy"].append(timed([str(bin_dir / "python"), "-c", DUCKDB_COPY_JOB, "postgres", dsn,
                                            "public.tickets", f"{tmp}/raw.parquet"], env, "copy", server))
                for name, (folder, run_env) in runs.items():
                    seconds, clock = archival_run(folder, run_env, bin_dir / "archival", name, server)
                    times[name].append(seconds)
                    clocks[name].append(clock)
                print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True)
    write_report("run-vs-copy", report(args, times, clocks))
    return 0


def report(args: argparse.Namespace, times: dict[str, list[float]], clocks: dict[str, list[dict]]) -> str:
    median = {k: statistics.median(v) for k, v in times.items()}
    stages = {name: {s: statistics.median(c.get(s, 0.0) for c in runs) for s in {k for c in runs for k in c}}
              for name, runs in clocks.items()}
    cores = os.cpu_count() or 2
    # each round's process against the COPY of its own round: what the VM's speed did between rounds cancels
    per_round = {k: statistics.median(t / c for t, c in zip(v, times["copy"], strict=True)) for k, v in times.items()}
    lines = [f"# archival run vs DuckDB COPY: {args.rows:,} rows, PostgreSQL, {args.repeat} rounds, {cores} cores",
             "", "| process | median s | ratio to COPY | median of the rounds' ratios |", "|---|---:|---:|---:|"]
    lines += [f"| {label} | {median[name]:.2f} | {median[name] / median['copy']:.2f}x | {per_round[name]:.2f}x |"
              for name, label in PROCESSES.items()]
    lines += [""] + cpu_lines(median["copy"])
    lines.append("")
    for name in clocks:
        clock = stages[name]
        lines += [f"Stage clock of the unit, {PROCESSES[name].removeprefix('`archival run` ')} (median s): " +
                  ", ".join(f"{k} {v:.2f}" for k, v in sorted(clock.items()) if k != "unit_seconds") +
                  f"; unit {clock['unit_seconds']:.2f} of {median[name]:.2f} s wall.", ""]
    for direct, flow, reads in (("direct", "flow", "one connection"), ("direct2", "flow2", "parallel_reads: 2")):
        clock = stages[direct]
        rest = median[direct] - clock["unit_seconds"] + clock.get("snapshot", 0.0) + clock.get("record", 0.0)
        lines += [f"Expected on more cores, {reads} (the longer of reader and tail; {', '.join(SCALES)} / "
                  f"(cores/{cores}); read {clock.get('read', 0.0):.2f} s and the rest {rest:.2f} s as measured, "
                  "COPY as measured):", ""]
        for more in (8, 16):
            scale = cores / more
            reader = clock.get("read", 0.0) + clock.get("contract", 0.0) * scale
            tail = sum(clock.get(s, 0.0) for s in TAIL) * scale
            estimate = rest + max(reader, tail)
            with_flow = estimate + median[flow] - median[direct]
            lines.append(f"- {more} cores: direct {estimate:.1f} s ({estimate / median['copy']:.2f}x), flow "
                         f"{with_flow:.1f} s ({with_flow / median['copy']:.2f}x)")
        lines.append("")
    return "\n".join(lines)


def cpu_lines(copy_seconds: float) -> list[str]:
    """Median CPU seconds per process, and the least wall time that much CPU needs on this machine."""
    cores = os.cpu_count() or 2
    lines = [f"| process | CPU s (process) | CPU s (PostgreSQL backends) | total | total / {cores} cores | "
             "that / COPY's wall |", "|---|---:|---:|---:|---:|---:|"]
    for name, label in PROCESSES.items():
        own = statistics.median(c for c, _ in CPU[name])
        backends = [b for _, b in CPU[name] if b is not None]
        if not backends:
            lines.append(f"| {label} | {own:.2f} | n/a | | | |")
            continue
        total = own + statistics.median(backends)
        lines.append(f"| {label} | {own:.2f} | {statistics.median(backends):.2f} | {total:.2f} | "
                     f"{total / cores:.2f} | {total / cores / copy_seconds:.2f}x |")
    return lines + ["", "A flow's Prefect server (another process, long-lived connections) is not in these "
                    "figures; it shares the same cores."]


if __name__ == "__main__":
    sys.exit(main())

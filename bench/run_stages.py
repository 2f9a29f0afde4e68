"""What each optional part of a run costs in wall time: the 5M-row table of bench/run_vs_copy.py run
direct with its spec whole (contract + HMAC of the title), without the HMAC, without the contract,
and with neither, then whole as a flow against a running Prefect server; each a fresh `archival run`
process into an empty archive, alternating in rounds. The differences from the whole spec are what
the HMAC, the contract and Prefect add to a run's wall on this machine, with each process's CPU
(its own and the PostgreSQL backends') beside them. The row fingerprint has no switch (every unit
is fingerprinted); bench/hash_candidates.py times it in isolation.

On two cores a stage costs more wall than half its CPU when it lies on the unit's critical path
(docs/performance.md, "Where a run's time goes").

    python bench/run_stages.py --rows 5000000 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from common import (
    bench_env,
    prefect_server,
    temp_database,
    tickets_spec,
    user_install,
    write_project,
    write_report,
)
from export_pg import TABLE_SQL
from run_vs_copy import CPU, archival_run, postmaster_stat

VARIANTS = {
    "whole": ("contract + HMAC (the bench spec)", tickets_spec("pg", "public.tickets")),
    "no_hmac": ("contract, no HMAC", tickets_spec("pg", "public.tickets", pii=False)),
    "no_contract": ("HMAC, no contract", tickets_spec("pg", "public.tickets", contract=False, pii=True)),
    "plain": ("neither", tickets_spec("pg", "public.tickets", contract=False)),
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    archival = user_install() / "archival"
    runs = [*VARIANTS, "flow"]
    times: dict[str, list[float]] = {name: [] for name in runs}
    units: dict[str, list[float]] = {name: [] for name in runs}
    with temp_database(TABLE_SQL.format(rows=args.rows)) as dsn, tempfile.TemporaryDirectory() as tmp:
        folders = {name: write_project(Path(tmp) / name, spec) for name, (_, spec) in VARIANTS.items()}
        folders["flow"] = folders["whole"]
        server = postmaster_stat(dsn)
        env = bench_env(dsn, tmp)
        with prefect_server("postgres", Path(tmp) / "server") as (api_url, _):
            for i in range(args.repeat):
                for name in runs:
                    run_env = {**env, "PREFECT_API_URL": api_url if name == "flow" else ""}
                    seconds, clock = archival_run(folders[name], run_env, archival, name, server)
                    times[name].append(seconds)
                    units[name].append(clock["unit_seconds"])
                print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True)
    write_report("run-stages", report(args, times, units))
    return 0


def report(args: argparse.Namespace, times: dict[str, list[float]], units: dict[str, list[float]]) -> str:
    median = {k: statistics.median(v) for k, v in times.items()}
    cpu = {k: (statistics.median(c for c, _ in CPU[k]),
               statistics.median(b for _, b in CPU[k]) if all(b is not None for _, b in CPU[k]) else None)
           for k in times}
    labels = {**{k: f"direct, {label}" for k, (label, _) in VARIANTS.items()},
              "flow": "a flow against a running server, contract + HMAC"}
    lines = [f"# What each part of a run costs: {args.rows:,} rows, PostgreSQL, {args.repeat} rounds", "",
             "| run | median s | unit s | than the whole spec direct | CPU s (process) | CPU s (PostgreSQL) |",
             "|---|---:|---:|---:|---:|---:|"]
    for name in times:
        backends = f"{cpu[name][1]:.2f}" if cpu[name][1] is not None else "n/a"
        lines.append(f"| {labels[name]} | {median[name]:.2f} | {statistics.median(units[name]):.2f} | "
                     f"{median[name] - median['whole']:+.2f} | {cpu[name][0]:.2f} | {backends} |")
    lines += ["", "Each run is a fresh `archival run` process into an empty archive (bench/.user-venv); "
              "`unit s` is the unit's own clock from the run record, the rest is start-up, plan and exit."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())

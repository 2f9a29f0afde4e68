"""This code against an earlier commit, whole processes, alternating: what a change did to a 5M-row
PostgreSQL run (the export bench's table and spec: contract, HMAC, fingerprint), direct and as a
flow against a running Prefect server, and to `verify --deep` of what the direct run wrote. Each
round runs a DuckDB COPY too, so a round's ratios stand against that round's COPY.

The VM's speed moves between rounds by more than most changes are worth, so the measure is the
pairs: each round runs the old and the new process back to back (in turns, which one first), and
the report gives the median of the per-round differences beside the medians.

The baseline is installed as a user installs it (`pip install` of a `git worktree` at REV, compiled)
into bench/.baseline-<sha>/, made once per revision (the worktree: bench/.baseline-<sha>-src/,
`git worktree remove` it when done); this code comes from bench/.user-venv.

    python bench/against_commit.py REV --repeat 6
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import (
    DUCKDB_COPY_JOB,
    ROOT,
    bench_env,
    built_venv,
    prefect_server,
    temp_database,
    user_install,
    write_project,
    write_report,
)
from export_pg import SPEC, TABLE_SQL
from run_vs_copy import CPU, archival_run, postmaster_stat, timed


def baseline_install(rev: str) -> Path:
    """The bin folder of archival at `rev`, installed without dev extras from a worktree of it."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", f"{rev}^{{commit}}"],
                         capture_output=True, text=True, check=True).stdout.strip()
    venv, source = ROOT / "bench" / f".baseline-{sha}", ROOT / "bench" / f".baseline-{sha}-src"
    if not source.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(source), sha],
                       check=True, capture_output=True)
    constraints = source / "constraints.txt"
    bin_dir, why = built_venv(venv, ["-c", str(constraints), str(source)], [constraints])
    if bin_dir is None:
        raise SystemExit(why)
    return bin_dir


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("rev", help="the commit to measure against (a tag, a sha, HEAD~3)")
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=6)
    args = parser.parse_args()
    old_bin, new_bin = baseline_install(args.rev), user_install()
    times: dict[str, list[float]] = {}
    with temp_database(TABLE_SQL.format(rows=args.rows)) as dsn, tempfile.TemporaryDirectory() as tmp:
        projects = {"old": write_project(Path(tmp) / "old", SPEC), "new": write_project(Path(tmp) / "new", SPEC)}
        bins = {"old": old_bin, "new": new_bin}
        server = postmaster_stat(dsn)
        env = bench_env(dsn, tmp)
        with prefect_server("postgres", Path(tmp) / "server") as (api_url, _):
            modes = {"direct": {**env, "PREFECT_API_URL": ""}, "flow": {**env, "PREFECT_API_URL": api_url}}
            for side in ("old", "new"):  # the server's first run of each creates its flow: not timed
                archival_run(projects[side], modes["flow"], bins[side] / "archival", "warm-up", server)
            for i in range(args.repeat):
                times.setdefault("copy", []).append(timed(
                    [str(new_bin / "python"), "-c", DUCKDB_COPY_JOB, "postgres", dsn, "public.tickets",
                     f"{tmp}/raw.parquet"], env, "copy", server))
                sides = ("old", "new") if i % 2 == 0 else ("new", "old")
                for mode, mode_env in modes.items():
                    for side in sides:
                        seconds, _ = archival_run(projects[side], mode_env, bins[side] / "archival",
                                                  f"{mode} {side}", server)
                        times.setdefault(f"{mode} {side}", []).append(seconds)
                for side in sides:
                    name = f"verify --deep {side}"
                    times.setdefault(name, []).append(timed(
                        [str(bins[side] / "archival"), "verify", "--deep", "--project-dir", str(projects[side])],
                        modes["direct"], name, server))
                print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True)
    write_report("against-commit", report(args, times))
    return 0


def report(args: argparse.Namespace, times: dict[str, list[float]]) -> str:
    copy = times["copy"]
    lines = [f"# This code against {args.rev}: {args.rows:,} rows, PostgreSQL, {args.repeat} alternating rounds", "",
             f"DuckDB COPY to Parquet: median {statistics.median(copy):.2f} s "
             f"({min(copy):.2f}-{max(copy):.2f}).", "",
             "| process | old, median s | new, median s | new - old, median of the rounds | old CPU s | new CPU s "
             "| old / COPY (rounds) | new / COPY (rounds) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for what in ("direct", "flow", "verify --deep"):
        old, new = times[f"{what} old"], times[f"{what} new"]
        cpu = {side: statistics.median(c for c, _ in CPU[f"{what} {side}"]) for side in ("old", "new")}
        ratios = ["", ""]
        if what != "verify --deep":  # against COPY: the ratio of medians, and the median of each round's
            ratios = [f"{statistics.median(v) / statistics.median(copy):.2f}x "
                      f"({statistics.median(x / c for x, c in zip(v, copy, strict=True)):.2f}x)" for v in (old, new)]
        paired = statistics.median(n - o for o, n in zip(old, new, strict=True))
        lines.append(f"| {what} | {statistics.median(old):.2f} | {statistics.median(new):.2f} | {paired:+.2f} | "
                     f"{cpu['old']:.2f} | {cpu['new']:.2f} | {ratios[0]} | {ratios[1]} |")
    lines += ["", "Each process from its own venv installed without dev extras; `verify --deep` of the archive the "
              "round's direct run wrote.", "", "Per round (s): " + "; ".join(
                  f"{k} " + ", ".join(f"{x:.2f}" for x in v) for k, v in times.items())]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())

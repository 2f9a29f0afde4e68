"""Does memory stay flat as a unit grows? The bench's low-code tickets table (export_pg.py) at 1M, 5M
and 20M rows, one full-table unit with contract, PII hash and fingerprint, each export in a fresh
process: seconds, rows/s and peak RSS, and the RSS at the largest size against the smallest. Each size
runs `--repeat` times: one process's peak moves by 20-50 MiB from run to run (how often it fills all
its buffers at once), so the ratio is taken between medians, with the range beside it.

    python bench/memory_pg.py --sizes 1000000,5000000,20000000 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from common import EXPORT_JOB, ROOT, run_job, temp_database, tickets_spec, write_project, write_report
from export_pg import TABLE_SQL


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000000,5000000,20000000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows: list[tuple[int, list[dict]]] = []
    for size in [int(s) for s in args.sizes.split(",")]:
        results = []
        with temp_database(TABLE_SQL.format(rows=size)) as dsn, tempfile.TemporaryDirectory() as tmp:
            env = {"BENCH_DSN": dsn, "ARCHIVAL_PII_KEY": "bench", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
            for i in range(args.repeat):
                folder = write_project(Path(tmp) / f"run{i}", tickets_spec("pg", "public.tickets"))
                result = run_job(EXPORT_JOB, str(folder), str(ROOT), "2030-01-01T00:00:00+00:00", env=env)
                assert result["rows"] == size, result
                results.append(result)
                print(f"{size:,} rows: {result['seconds']:.1f} s, {result['rss_mib']:.0f} MiB", file=sys.stderr)
        rows.append((size, results))
    lines = [f"# Memory against unit size: the tickets table, one full unit (contract, PII hash, fingerprint), "
             f"{os.cpu_count()} cores, {args.repeat} runs a size", "",
             "| rows | seconds (median) | rows/s | peak RSS MiB (median) | peak RSS MiB (range) |",
             "|---:|---:|---:|---:|---:|"]
    medians = []
    for n, results in rows:
        seconds = statistics.median(r["seconds"] for r in results)
        rss = [r["rss_mib"] for r in results]
        medians.append(statistics.median(rss))
        lines.append(f"| {n:,} | {seconds:.1f} | {n / seconds:,.0f} | {medians[-1]:.0f} "
                     f"| {min(rss):.0f}-{max(rss):.0f} |")
    worst = max(r["rss_mib"] for r in rows[-1][1]) / min(r["rss_mib"] for r in rows[0][1])
    lines += ["", f"peak RSS at {rows[-1][0]:,} rows / at {rows[0][0]:,} rows: {medians[-1] / medians[0]:.2f}x "
              f"(medians; the highest run against the lowest: {worst:.2f}x)"]
    write_report("memory-pg", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

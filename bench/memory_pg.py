"""Does memory stay flat as a unit grows? The bench's low-code tickets table (export_pg.py) at 1M, 5M
and 20M rows, one full-table unit with contract, PII hash and fingerprint, each export in a fresh
process: seconds, rows/s and peak RSS, and the RSS at the largest size against the smallest.

    python bench/memory_pg.py --sizes 1000000,5000000,20000000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from common import EXPORT_JOB, ROOT, run_job, temp_database, tickets_spec, write_project, write_report
from export_pg import TABLE_SQL


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000000,5000000,20000000")
    args = parser.parse_args()
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        with temp_database(TABLE_SQL.format(rows=size)) as dsn, tempfile.TemporaryDirectory() as tmp:
            folder = write_project(Path(tmp), tickets_spec("pg", "public.tickets"))
            env = {"BENCH_DSN": dsn, "ARCHIVAL_PII_KEY": "bench", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
            result = run_job(EXPORT_JOB, str(folder), str(ROOT), "2030-01-01T00:00:00+00:00", env=env)
        assert result["rows"] == size, result
        rows.append((size, result))
        print(f"{size:,} rows: {result['seconds']:.1f} s, {result['rss_mib']:.0f} MiB", file=sys.stderr)
    lines = [f"# Memory against unit size: the tickets table, one full unit (contract, PII hash, fingerprint), "
             f"{os.cpu_count()} cores", "", "| rows | seconds | rows/s | peak RSS MiB |", "|---:|---:|---:|---:|"]
    lines += [f"| {n:,} | {r['seconds']:.1f} | {n / r['seconds']:,.0f} | {r['rss_mib']:.0f} |" for n, r in rows]
    first, last = rows[0][1]["rss_mib"], rows[-1][1]["rss_mib"]
    lines += ["", f"peak RSS at {rows[-1][0]:,} rows / at {rows[0][0]:,} rows: {last / first:.2f}x"]
    write_report("memory-pg", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

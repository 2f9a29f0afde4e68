"""Parallel reads inside one snapshot (limits.parallel_reads): one ROWS-row PostgreSQL unit (the events
table, mode full, a PII hash rule) exported with 1, 2 and 4 connections, each in a fresh process:
rows/s, peak RSS, and whether the files are byte-identical to the one-connection export.

    python bench/parallel_read_pg.py --rows 5000000
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from pathlib import Path

from common import EVENTS_TABLE_SQL, EXPORT_JOB, PG_SOURCE, PROJECT_FILE, ROOT, run_job, temp_database, write_report

SPEC = """domain: bench
owner: bench@example.com
source: pg
tables:
  events:
    relation: public.events
    primary_key: [id]
    mode: full
    columns:
      title: {pii: hash}
"""


def _files(folder: Path) -> dict[str, str]:
    data = folder / "archive" / "bench" / "events"
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(data.rglob("*.parquet"))}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--connections", default="1,2,4")
    args = parser.parse_args()
    counts = [int(n) for n in args.connections.split(",")]
    rows, identical = [], True
    with temp_database(EVENTS_TABLE_SQL.format(rows=args.rows)) as dsn, tempfile.TemporaryDirectory() as tmp:
        first = None
        for n in counts:
            folder = Path(tmp) / f"n{n}"
            (folder / "specs").mkdir(parents=True)
            (folder / "specs" / "bench.yaml").write_text(SPEC)
            (folder / "archival.yaml").write_text(
                PROJECT_FILE.format(source=PG_SOURCE)
                + f"limits: {{max_parallel_per_source: {max(n, 2)}, parallel_reads: {n}, parallel_min_rows: 1}}\n")
            env = {"BENCH_DSN": dsn, "ARCHIVAL_PII_KEY": "bench", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
            result = run_job(EXPORT_JOB, str(folder), str(ROOT), "2026-12-01T00:00:00+00:00", env=env)
            files = _files(folder)
            first = first or files
            identical &= files == first
            rows.append((n, result))
            print(f"{n} connection(s): {result['seconds']:.1f} s", file=sys.stderr)
    base = rows[0][1]["seconds"]
    lines = [f"# Parallel reads inside one snapshot: {args.rows:,} rows, one PostgreSQL unit (mode full, PII hash), "
             f"{os.cpu_count()} cores", "",
             "| connections | seconds | rows/s | vs 1 connection | peak RSS MiB |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {n} | {r['seconds']:.1f} | {r['rows'] / r['seconds']:,.0f} | {base / r['seconds']:.2f}x | "
              f"{r['rss_mib']:.0f} |" for n, r in rows]
    lines += ["", f"files byte-identical to the one-connection export: {'yes' if identical else 'NO'}"]
    write_report("parallel-read-pg", "\n".join(lines) + "\n")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())

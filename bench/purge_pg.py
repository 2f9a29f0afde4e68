"""Purge rate on a big PostgreSQL table, and what the app sees meanwhile.

Archives a ROWS-row table (3 years of monthly periods, a PII hash rule), then purges every period
older than 90 days in batches of 5,000 (no pause) while an "app" thread keeps writing single-row
UPDATEs to the newest rows and a sampler counts the source's waiting locks (pg_locks NOT granted):

    python bench/purge_pg.py --rows 5000000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from common import EVENTS_TABLE_SQL, PG_SOURCE, ROOT, events_spec, run_job, temp_database, write_project, write_report

SPEC = events_spec("""    columns:
      title: {pii: hash}
    purge: {after: 90d, batch_rows: 5000, pause: 0s}
""")

EXPORT = """
import sys, json, time
from datetime import datetime
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tests.run.helpers import run_units
t = time.perf_counter()
_, results = run_units(Path(sys.argv[1]), datetime.fromisoformat(sys.argv[3]))
print(json.dumps({"seconds": time.perf_counter() - t, "rows": sum(r.rows for r in results)}))
"""

PURGE = """
import sys, json, time, resource
from datetime import datetime
from pathlib import Path
from archival.purge.run import purge_project
from archival.spec.load import load_project
project = load_project(Path(sys.argv[1]))
t = time.perf_counter()
tables = [t for d in project.domains for t in d.tables]
report = purge_project(project, tables, as_of=datetime.fromisoformat(sys.argv[2]), dry_run=sys.argv[3] == "dry",
                       ignore_quiet_hours=True)
print(json.dumps({"seconds": time.perf_counter() - t, "deleted": report.deleted,
                  "periods": len(report.periods), "batches": sum(len(p.batches) for p in report.periods),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


class AppLoad:
    """Single-row UPDATEs of the newest rows (never purged) and a sampler of waiting locks."""

    def __init__(self, dsn: str, rows: int):
        self.dsn, self.rows, self.stop = dsn, rows, threading.Event()
        self.latencies: list[float] = []
        self.waiting: list[int] = []

    def _write(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as con:
            i = 0
            while not self.stop.is_set():
                started = time.perf_counter()
                con.execute("UPDATE public.events SET flag = NOT flag WHERE id = %s", (self.rows - (i % 1000),))
                self.latencies.append(time.perf_counter() - started)
                i += 1
                time.sleep(0.01)

    def _sample(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as con:
            while not self.stop.is_set():
                self.waiting.append(con.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0])
                time.sleep(0.1)

    def __enter__(self) -> AppLoad:
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self._write, self._sample)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def summary(self) -> str:
        ms = sorted(x * 1000 for x in self.latencies) or [0.0]
        p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        return (f"{len(ms):,} app UPDATEs, median {statistics.median(ms):.2f} ms, p99 {p99:.2f} ms, "
                f"max {ms[-1]:.1f} ms; waiting locks sampled every 100 ms: max {max(self.waiting or [0])}, "
                f"samples with a wait {sum(1 for w in self.waiting if w)} of {len(self.waiting)}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    args = parser.parse_args()
    as_of = "2026-08-01T00:00:00+00:00"
    with temp_database(EVENTS_TABLE_SQL.format(rows=args.rows)) as dsn, tempfile.TemporaryDirectory() as tmp:
        folder = write_project(Path(tmp), SPEC, PG_SOURCE.replace("}", ", purge_dsn: env:BENCH_DSN}"))
        env = {"BENCH_DSN": dsn, "ARCHIVAL_PII_KEY": "bench", "PYTHONPATH": str(ROOT)}
        export = run_job(EXPORT, str(folder), str(ROOT), as_of, env=env)
        with AppLoad(dsn, args.rows) as idle:
            time.sleep(5)
        dry = run_job(PURGE, str(folder), as_of, "dry", env=env)
        with AppLoad(dsn, args.rows) as load:
            real = run_job(PURGE, str(folder), as_of, "real", env=env)
        with psycopg.connect(dsn) as con:
            left = con.execute("SELECT count(*) FROM public.events").fetchone()[0]
    rate = real["deleted"] / real["seconds"]
    write_report("purge-pg", "\n".join([
        f"# purge bench: {args.rows:,} rows, PostgreSQL, batches of 5,000, no pause", "",
        "| step | seconds | rows | rows/s | peak RSS MiB |", "|---|---:|---:|---:|---:|",
        f"| export (first run) | {export['seconds']:.1f} | {export['rows']:,} | "
        f"{export['rows'] / export['seconds']:,.0f} | |",
        f"| purge --dry-run | {dry['seconds']:.1f} | {dry['deleted']:,} | {dry['deleted'] / dry['seconds']:,.0f} | "
        f"{dry['peak_rss_mib']:,.0f} |",
        f"| purge | {real['seconds']:.1f} | {real['deleted']:,} | {rate:,.0f} | {real['peak_rss_mib']:,.0f} |", "",
        f"{real['periods']} periods, {real['batches']:,} batches; {left:,} rows left in the source (the newest "
        "periods, not yet 90 days old).", "",
        f"App without a purge: {idle.summary()}.", f"App during the purge: {load.summary()}.", "",
        f"purge / export: {real['seconds'] / export['seconds']:.2f}x the time of archiving the table"]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What `reconcile: after_run` costs: the first export of a ROWS-row PostgreSQL table (monthly window
periods, a PII hash rule), then the after-run reconciliation of every period it wrote, timed apart.

    python bench/after_run_pg.py --rows 1000000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from common import EVENTS_TABLE_SQL, ROOT, events_spec, run_job, temp_database, write_project, write_report

SPEC = events_spec("""    reconcile: after_run
    columns:
      title: {pii: hash}
""")

JOB = """
import sys, json, time
from datetime import datetime
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tests.run.helpers import run_units
from archival.run.after_run import reconcile_written
t = time.perf_counter()
ctx, results = run_units(Path(sys.argv[1]), datetime.fromisoformat(sys.argv[3]))
export = time.perf_counter() - t
t = time.perf_counter()
reports = reconcile_written(ctx, results)
print(json.dumps({"export": export, "reconcile": time.perf_counter() - t, "periods": len(reports),
                  "rows": sum(r.rows for r in results), "mismatched": sum(r.status != "ok" for r in reports)}))
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with temp_database(EVENTS_TABLE_SQL.format(rows=args.rows)) as dsn, tempfile.TemporaryDirectory() as tmp:
        folder = write_project(Path(tmp), SPEC)
        env = {"BENCH_DSN": dsn, "ARCHIVAL_PII_KEY": "bench", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        result = run_job(JOB, str(folder), str(ROOT), "2026-08-01T00:00:00+00:00", env=env)
    assert result["mismatched"] == 0, result
    write_report("after-run-pg", "\n".join([
        f"# reconcile: after_run bench: {args.rows:,} rows, PostgreSQL, {result['periods']} monthly periods", "",
        "| step | seconds |", "|---|---:|", f"| export (first run) | {result['export']:.1f} |",
        f"| after-run reconciliation of every period written | {result['reconcile']:.1f} |", "",
        f"after-run / export: {result['reconcile'] / result['export']:.2f}x (one more read of the periods written, "
        "hashed per key on both sides)"]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

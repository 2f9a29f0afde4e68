"""Full export of a low-code-shaped PostgreSQL table: archival vs raw DuckDB COPY, wall time, rows/s,
MB/s of Parquet and peak RSS of each process. Each measurement runs in a fresh subprocess so RSS is
that job's own.

    python bench/export_pg.py --rows 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from common import ROOT, run_job, temp_database, write_project, write_report

TABLE_SQL = """
CREATE TABLE public.tickets AS
SELECT g AS id,
       now() - interval '3 years' + (g::float / {rows} * interval '3 years') AS created_at,
       CASE WHEN g % 3 = 0 THEN NULL ELSE now() - (g % 1000) * interval '1 hour' END AS updated_at,
       (g % 20000) + 1 AS customer_id,
       (ARRAY['new','open','pending','resolved','closed'])[g % 5 + 1] AS status,
       round((g % 100000) / 7.0, 2)::numeric(12,2) AS amount,
       'Ticket ' || g || ': ' || md5(g::text) AS title,
       CASE WHEN g % 10 = 0 THEN repeat('long note ', 20) END AS notes,
       json_build_object('tags', json_build_array('a', g % 7)) AS tags,
       g % 2 = 0 AS is_vip
FROM generate_series(1, {rows}) g;
ALTER TABLE public.tickets ADD PRIMARY KEY (id);
CREATE INDEX ON public.tickets (created_at);
"""

SPEC = """domain: bench
owner: bench@example.com
source: pg
tables:
  tickets:
    relation: public.tickets
    primary_key: [id]
    mode: full
    columns:
      id: {type: int32, nullable: false, unique: true}
      status: {allowed: [new, open, pending, resolved, closed]}
      amount: {min: 0, max: 100000}
      title: {pii: hash, max_length: 200}
"""
PLAIN_SPEC = "\n".join(SPEC.splitlines()[:8]) + "\n"  # the same table without contract and hashing

ARCHIVAL_JOB = """
import sys, json, time
from datetime import datetime, UTC
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tests.run.helpers import run_units
t = time.perf_counter()
_, results = run_units(Path(sys.argv[1]), datetime.now(UTC))
import resource
print(json.dumps({"seconds": time.perf_counter() - t, "rows": sum(r.rows for r in results),
                  "bytes": sum(r.bytes for r in results),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

RECONCILE_JOB = """
import sys, json, time, resource
from pathlib import Path
from archival.spec.load import load_project
from archival.spec.select import select_tables
from archival.verify.reconcile import reconcile_project
project = load_project(Path(sys.argv[1]))
t = time.perf_counter()
reports, relations = reconcile_project(project, select_tables(project, []))
assert all(r.status == "ok" for r in [*reports, *relations]), reports
print(json.dumps({"seconds": time.perf_counter() - t, "rows": sum(r.source_rows for r in reports), "bytes": 0,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

DUCKDB_JOB = """
import sys, json, time, os
from archival.source.duck import connect
con = connect(("postgres",))
con.execute(f"ATTACH '{sys.argv[1]}' AS pg (TYPE postgres, READ_ONLY)")
t = time.perf_counter()
con.execute(f"COPY (SELECT * FROM pg.public.tickets) TO '{sys.argv[2]}' (FORMAT parquet, COMPRESSION zstd)")
import resource
print(json.dumps({"seconds": time.perf_counter() - t, "rows": None, "bytes": os.path.getsize(sys.argv[2]),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with temp_database(TABLE_SQL.format(rows=args.rows)) as dsn:
        runs: dict[str, list[dict]] = {"archival": [], "archival, no contract/hash": [], "duckdb": [],
                                       "reconcile (archival)": []}
        env = {"BENCH_DSN": dsn, "ARCHIVAL_PII_KEY": "bench"}
        for i in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                folder = write_project(Path(tmp), SPEC)
                plain = write_project(Path(tmp) / "plain", PLAIN_SPEC)
                runs["archival"].append(run_job(ARCHIVAL_JOB, str(folder), str(ROOT), env=env))
                runs["reconcile (archival)"].append(run_job(RECONCILE_JOB, str(folder), env=env))
                runs["archival, no contract/hash"].append(run_job(ARCHIVAL_JOB, str(plain), str(ROOT), env=env))
                runs["duckdb"].append(run_job(DUCKDB_JOB, dsn, str(folder / "raw.parquet")))
            print(f"repeat {i + 1}: " + ", ".join(f"{k} {v[-1]['seconds']:.2f}s" for k, v in runs.items()))
    lines = [f"# export bench: {args.rows:,} rows, PostgreSQL, {args.repeat} repeats", "",
             "| tool | median s | spread s | rows/s | Parquet MB/s | peak RSS MiB |", "|---|---:|---:|---:|---:|---:|"]
    medians = {}
    for tool, results in runs.items():
        secs = [r["seconds"] for r in results]
        medians[tool] = med = statistics.median(secs)
        mb = statistics.median(r["bytes"] for r in results) / 1e6
        rss = max(r["peak_rss_mib"] for r in results)
        lines.append(f"| {tool} | {med:.2f} | {max(secs) - min(secs):.2f} | {args.rows / med:,.0f} | "
                     f"{mb / med:.1f} | {rss:,.0f} |")
    lines += ["", f"ratio archival/duckdb: {medians['archival'] / medians['duckdb']:.2f}",
              f"contract + hashing overhead: archival / archival without them: "
              f"{medians['archival'] / medians['archival, no contract/hash']:.2f}",
              f"reconcile / export: {medians['reconcile (archival)'] / medians['archival']:.2f}",
              "(archival: contract on five columns, HMAC of one text column, fingerprint, manifest, audit; "
              "peak RSS is each job process's own maximum)"]
    write_report("export-pg", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

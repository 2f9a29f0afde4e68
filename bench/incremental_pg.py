"""Incremental run after N changed rows of a big PostgreSQL table, against the first full export.

    python bench/incremental_pg.py --rows 5000000 --changes 10000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import psycopg
from common import ROOT, run_job, temp_database, write_project, write_report

TABLE_SQL = """
CREATE TABLE public.tickets AS
SELECT g AS id,
       timestamp '2023-11-01' + (g::float / {rows} * interval '3 years') AS created_at,
       NULL::timestamp AS updated_at,
       (g % 20000) + 1 AS customer_id,
       (ARRAY['new','open','pending','resolved','closed'])[g % 5 + 1] AS status,
       round((g % 100000) / 7.0, 2)::numeric(12,2) AS amount,
       'Ticket ' || g || ': ' || md5(g::text) AS title,
       CASE WHEN g % 10 = 0 THEN repeat('long note ', 20) END AS notes,
       g % 2 = 0 AS is_vip
FROM generate_series(1, {rows}) g;
ALTER TABLE public.tickets ADD PRIMARY KEY (id);
CREATE INDEX ON public.tickets (created_at);
CREATE INDEX ON public.tickets (updated_at);
"""

SPEC = """domain: bench
owner: bench@example.com
source: pg
tables:
  tickets:
    relation: public.tickets
    primary_key: [id]
    mode: incremental
    cursor: [updated_at, created_at]
    period: month
    lag: 0s
    lookback: 1h
"""

JOB = """
import sys, json, time, resource
from datetime import datetime, UTC
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tests.run.helpers import run_units
t = time.perf_counter()
_, results = run_units(Path(sys.argv[1]), datetime.fromisoformat(sys.argv[3]))
print(json.dumps({"seconds": time.perf_counter() - t, "units": len(results),
                  "rows_written": sum(r.rows for r in results), "bytes_written": sum(r.bytes for r in results),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--changes", type=int, default=10_000)
    args = parser.parse_args()
    with temp_database(TABLE_SQL.format(rows=args.rows)) as dsn, tempfile.TemporaryDirectory() as tmp:
        folder = write_project(Path(tmp), SPEC)
        env = {"BENCH_DSN": dsn, "ARCHIVAL_PII_KEY": "bench"}
        full = run_job(JOB, str(folder), str(ROOT), "2026-11-01T00:00:00+00:00", env=env)
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute("UPDATE public.tickets SET updated_at = timestamp '2026-11-01 00:30', status = 'closed' "
                        "WHERE id IN (SELECT id FROM public.tickets ORDER BY md5(id::text) LIMIT %s)", (args.changes,))
        incremental = run_job(JOB, str(folder), str(ROOT), "2026-11-01T01:00:00+00:00", env=env)
        with psycopg.connect(dsn, autocommit=True) as con:  # the next scheduled run: other rows changed
            con.execute("UPDATE public.tickets SET updated_at = timestamp '2026-11-01 01:30', status = 'open' "
                        "WHERE id IN (SELECT id FROM public.tickets ORDER BY md5(id::text || 'next') LIMIT %s)",
                        (args.changes,))
        steady = run_job(JOB, str(folder), str(ROOT), "2026-11-01T02:00:00+00:00", env=env)
    ratio, first_ratio = steady["seconds"] / full["seconds"], incremental["seconds"] / full["seconds"]
    write_report("incremental-pg", "\n".join([
        f"# incremental bench: {args.rows:,} rows, {args.changes:,} changed, PostgreSQL", "",
        "| run | seconds | units | rows written | MB written | peak RSS MiB |", "|---|---:|---:|---:|---:|---:|",
        *(f"| {name} | {r['seconds']:.2f} | {r['units']} | {r['rows_written']:,} | "
          f"{r['bytes_written'] / 1e6:.1f} | {r['peak_rss_mib']:,.0f} |"
          for name, r in (("full (first run)", full), ("first incremental (counts the archive's keys)", incremental),
                          ("next incremental (starts from the key census)", steady))),
        "", f"incremental / full: {ratio:.1%} scheduled runs, {first_ratio:.1%} the first one after the full export "
        "(target <= 5%; each includes the hard-delete check: a count of the source, and the archive's live "
        "keys counted the first time, then taken from the last check's key census)"]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

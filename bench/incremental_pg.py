"""Incremental run after N changed rows of a big PostgreSQL table, against the first full export.

    python bench/incremental_pg.py --rows 5000000 --changes 10000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"

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


def job(folder: Path, as_of: str, env: dict) -> dict:
    done = subprocess.run([sys.executable, "-c", JOB, str(folder), str(ROOT), as_of], capture_output=True,
                          text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--changes", type=int, default=10_000)
    args = parser.parse_args()
    dbname = f"archival_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{dbname}"')
    dsn = f"host=127.0.0.1 port=5432 user=postgres dbname={dbname}"
    try:
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute(TABLE_SQL.format(rows=args.rows))
            con.execute("VACUUM ANALYZE public.tickets")
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "specs").mkdir()
            (folder / "specs" / "bench.yaml").write_text(SPEC)
            (folder / "archival.yaml").write_text(
                "project: bench\nsources:\n  pg: {type: postgres, dsn: env:BENCH_DSN}\narchive:\n  default: local\n"
                "  targets:\n    local: {type: local, path: ./archive}\n")
            env = {**os.environ, "BENCH_DSN": dsn}
            full = job(folder, "2026-11-01T00:00:00+00:00", env)
            with psycopg.connect(dsn, autocommit=True) as con:
                con.execute("UPDATE public.tickets SET updated_at = timestamp '2026-11-01 00:30', status = 'closed' "
                            "WHERE id IN (SELECT id FROM public.tickets ORDER BY md5(id::text) LIMIT %s)",
                            (args.changes,))
            incremental = job(folder, "2026-11-01T01:00:00+00:00", env)
        ratio = incremental["seconds"] / full["seconds"]
        report = "\n".join([
            f"# incremental bench: {args.rows:,} rows, {args.changes:,} changed, PostgreSQL", "",
            "| run | seconds | units | rows written | MB written | peak RSS MiB |", "|---|---:|---:|---:|---:|---:|",
            *(f"| {name} | {r['seconds']:.2f} | {r['units']} | {r['rows_written']:,} | "
              f"{r['bytes_written'] / 1e6:.1f} | {r['peak_rss_mib']:,.0f} |"
              for name, r in (("full (first run)", full), ("incremental", incremental))),
            "", f"incremental / full: {ratio:.1%} (target <= 5%)"]) + "\n"
        print(report)
        out = ROOT / "bench" / "results" / f"{time.strftime('%Y-%m-%d')}-{os.uname().nodename}-incremental-pg.md"
        out.write_text(report)
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())

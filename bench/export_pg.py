"""Full export of a low-code-shaped PostgreSQL table, archival side by side with raw DuckDB COPY, the
psql floor, dlt (connectorx and pyarrow backends) and Sling: wall time, rows/s, MB/s of Parquet, peak
RSS, and the rows each one actually wrote. Then `verify --deep`, `reconcile`, and `archival run` as
production starts it: the CLI against a local `prefect server start`, and a one-off CLI run with no
server configured (a direct run, no Prefect). Each measurement runs in a fresh process.

    python bench/export_pg.py --rows 5000000 --repeat 3      # the full comparison
    python bench/export_pg.py --rows 100000 --repeat 1 --no-peers   # a quick run, under a minute
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    DUCKDB_COPY_JOB,
    ROOT,
    prefect_server,
    results_table,
    run_job,
    stage_table,
    temp_database,
    tickets_spec,
    write_project,
    write_report,
)
from peers import dlt_export, peers_python, psql_floor, sling_export

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

SPEC = tickets_spec("pg", "public.tickets")
PLAIN_SPEC = tickets_spec("pg", "public.tickets", contract=False)

ARCHIVAL_JOB = """
import sys, json, time
from datetime import datetime, UTC
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tests.run.helpers import run_units
t = time.perf_counter()
_, results = run_units(Path(sys.argv[1]), datetime.now(UTC))
import resource
stages = {}
for r in results:
    for k, v in r.stages.items():
        stages[k] = stages.get(k, 0) + v
print(json.dumps({"seconds": time.perf_counter() - t, "rows": sum(r.rows for r in results),
                  "bytes": sum(r.bytes for r in results), "stages": stages,
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



VERIFY_JOB = """
import sys, json, time, resource
from pathlib import Path
from archival.archive.store import LocalStore
from archival.verify.check import verify_archive
t = time.perf_counter()
report = verify_archive(LocalStore(Path(sys.argv[1]) / "archive"), deep=True)
assert report.ok, report
print(json.dumps({"seconds": time.perf_counter() - t, "rows": None, "bytes": 0,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _cli_run(folder: Path, env: dict) -> float:
    """Wall time of a whole `archival run` process, interpreter start included."""
    shutil.rmtree(folder / "archive", ignore_errors=True)
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "archival"), "run", "--project-dir", str(folder),
                    "--no-progress"], check=True, capture_output=True, env={**os.environ, **env})
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-peers", action="store_true", help="skip dlt and Sling (no peers venv needed)")
    parser.add_argument("--slow-peer-repeat", type=int, default=1,
                        help="repetitions of dlt's pyarrow backend, which takes minutes at 5M rows")
    args = parser.parse_args()
    python, why_no_peers = (None, "skipped (--no-peers)") if args.no_peers else peers_python()
    runs: dict[str, list[dict]] = {name: [] for name in (
        "archival", "archival, no contract/hash", "duckdb COPY", "psql copy to /dev/null (floor)",
        "dlt, connectorx", "dlt, pyarrow", "sling", "verify --deep (archival)", "reconcile (archival)")}
    peer_errors: dict[str, str] = {}
    with temp_database(TABLE_SQL.format(rows=args.rows)) as dsn:
        env = {"BENCH_DSN": dsn, "ARCHIVAL_PII_KEY": "bench"}
        url = "postgresql://postgres@127.0.0.1:5432/" + dsn.rsplit("dbname=", 1)[1]
        for i in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                folder = write_project(Path(tmp), SPEC)
                plain = write_project(Path(tmp) / "plain", PLAIN_SPEC)
                runs["archival"].append(run_job(ARCHIVAL_JOB, str(folder), str(ROOT), env=env))
                runs["verify --deep (archival)"].append(run_job(VERIFY_JOB, str(folder)))
                runs["reconcile (archival)"].append(run_job(RECONCILE_JOB, str(folder), env=env))
                runs["archival, no contract/hash"].append(run_job(ARCHIVAL_JOB, str(plain), str(ROOT), env=env))
                runs["duckdb COPY"].append(run_job(DUCKDB_COPY_JOB, "postgres", dsn, "public.tickets",
                                                   str(folder / "raw.parquet")))
                runs["psql copy to /dev/null (floor)"].append(psql_floor(dsn, "public.tickets"))
                if python:
                    peers = {"dlt, connectorx": lambda out: dlt_export(python, url, "connectorx", out),
                             "sling": lambda out: sling_export(python, url, out)}
                    if i < args.slow_peer_repeat:
                        peers["dlt, pyarrow"] = lambda out: dlt_export(python, url, "pyarrow", out)
                    for name, job in peers.items():
                        if name in peer_errors:
                            continue
                        result = job(Path(tmp) / name.replace(", ", "-"))
                        if result["returncode"] != 0:
                            peer_errors[name] = result["stderr"].strip().splitlines()[-1:] or ["no message"]
                            continue
                        runs[name].append(result)
            print(f"repeat {i + 1}: " + ", ".join(f"{k} {v[-1]['seconds']:.2f}s" for k, v in runs.items() if v))
        with tempfile.TemporaryDirectory() as tmp:  # archival run as production and as a one-off start it
            folder = write_project(Path(tmp), SPEC)
            direct = statistics.median(_cli_run(folder, {**env, "PREFECT_HOME": f"{tmp}/eph"})
                                          for _ in range(args.repeat))
            with prefect_server("postgres", Path(tmp) / "server") as (api_url, startup):
                served = statistics.median(_cli_run(folder, {**env, "PREFECT_API_URL": api_url,
                                                             "PREFECT_HOME": f"{tmp}/client"})
                                           for _ in range(args.repeat))
    lines, medians = results_table(args.rows, runs)
    report = [f"# export bench: {args.rows:,} rows, PostgreSQL, {args.repeat} repeats, {os.cpu_count()} cores", "",
              *lines, "", *stage_table({k: runs[k] for k in ("archival", "archival, no contract/hash")}), ""]
    report += [f"ratio archival / DuckDB COPY: {medians['archival'] / medians['duckdb COPY']:.2f} (target <= 1.25)",
               f"ratio archival / psql floor: {medians['archival'] / medians['psql copy to /dev/null (floor)']:.2f}",
               f"contract + hashing overhead: archival / archival without them: "
               f"{medians['archival'] / medians['archival, no contract/hash']:.2f}",
               f"reconcile / export: {medians['reconcile (archival)'] / medians['archival']:.2f}"]
    for peer in ("dlt, connectorx", "dlt, pyarrow", "sling"):
        if peer in medians:
            report.append(f"ratio archival / {peer}: {medians['archival'] / medians[peer]:.2f}")
    if why_no_peers:
        report.append(f"dlt and Sling: {why_no_peers}")
    for peer, error in peer_errors.items():
        report.append(f"{peer}: failed here: {' '.join(error)[:300]}")
    report += ["", "## archival run (CLI process, interpreter start included)", "",
               "| how | median s |", "|---|---:|",
               f"| against a local `prefect server start` (PostgreSQL-backed; server start {startup:.1f} s, "
               f"not included) | {served:.2f} |",
               f"| one-off, no server configured (a direct run) | {direct:.2f} |", "",
               f"the flow against the running server costs {served - direct:.1f} s more than a direct run", "",
               "(archival: contract on five columns, HMAC of one text column, fingerprint, manifest, audit; "
               "peak RSS is each job's own process, for psql and the peers the largest process they started)"]
    write_report("export-pg", "\n".join(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

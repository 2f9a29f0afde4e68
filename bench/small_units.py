"""Many small units: a generated SQLite app of TABLES tables of ROWS rows each (mode full, ten domains),
exported inline (the units one after another in a warm process: the work itself), by `archival run` as a
user runs it without a server (direct, a fresh process) and as a flow against a running Prefect server;
each then again with nothing changed.

    python bench/small_units.py --tables 1000 --rows 2000
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

from common import ROOT, prefect_server, run_job, write_report

JOB = """
import sys, json, time
from datetime import datetime
from pathlib import Path
sys.path.insert(0, sys.argv[2])
t = time.perf_counter()
from tests.run.helpers import run_units
imported = time.perf_counter() - t
t = time.perf_counter()
_, results = run_units(Path(sys.argv[1]), datetime.fromisoformat(sys.argv[3]))
print(json.dumps({"seconds": time.perf_counter() - t, "imports": imported, "units": len(results),
                  "written": sum(r.outcome == "written" for r in results), "rows": sum(r.rows for r in results)}))
"""


def generate(folder: Path, tables: int, rows: int) -> None:
    (folder / "specs").mkdir(parents=True)
    with closing(sqlite3.connect(folder / "app.db")) as con:
        for i in range(tables):
            con.execute(f"CREATE TABLE t{i:04d} (id INTEGER PRIMARY KEY, name TEXT, amount REAL, created_at TEXT)")
            con.execute(f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {rows}) "
                        f"INSERT INTO t{i:04d} SELECT n, 'row ' || n, n * 0.25, '2026-01-01 00:00:00' FROM g")
        con.commit()
    per_domain = -(-tables // 10)
    for d in range(10):
        names = range(d * per_domain, min(tables, (d + 1) * per_domain))
        body = "".join(f"  t{i:04d}: {{relation: t{i:04d}, primary_key: [id], mode: full}}\n" for i in names)
        (folder / "specs" / f"d{d}.yaml").write_text(f"domain: d{d}\nowner: o@example.com\nsource: app\n"
                                                     f"tables:\n{body}")
    (folder / "archival.yaml").write_text("project: small-units\nsources:\n  app: {type: sqlite, path: app.db}\n"
                                          "archive:\n  default: local\n  targets:\n"
                                          "    local: {type: local, path: ./archive}\n")


def cli_run(folder: Path, *extra: str, api_url: str | None = None) -> float:
    """`archival run` in a fresh process as a user starts it: direct without `api_url`, else a flow
    reporting to that (running) server."""
    env = {**os.environ, "PREFECT_HOME": str(folder / ".prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    started = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).parent / "archival"), "run", "--project-dir", str(folder),
                           "--no-progress", "--as-of", "2026-12-01T00:00:00Z", *extra], env=env, capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(f"archival run failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--no-flow", action="store_true", help="skip the runs against a Prefect server")
    args = parser.parse_args()
    runs: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        inline, direct, flow = Path(tmp) / "inline", Path(tmp) / "direct", Path(tmp) / "flow"
        for folder in (inline, direct, flow):
            generate(folder, args.tables, args.rows)
        first = run_job(JOB, str(inline), str(ROOT), "2026-12-01T00:00:00+00:00")
        again = run_job(JOB, str(inline), str(ROOT), "2026-12-01T00:00:00+00:00")
        runs += [("inline (no Prefect, one unit after another, a warm process), first", first["seconds"]),
                 ("inline, nothing changed", again["seconds"])]
        runs += [("`archival run` direct (no server configured), first", cli_run(direct)),
                 ("`archival run` direct, nothing changed", cli_run(direct))]
        if not args.no_flow:
            with prefect_server("postgres", Path(tmp) / "server-home") as (url, _):
                runs.append(("`archival run` flow against a running server (PostgreSQL), first",
                             cli_run(flow, api_url=url)))
                runs.append(("`archival run` flow, nothing changed", cli_run(flow, api_url=url)))
    n = first["units"]
    lines = [f"# Small units: {args.tables:,} tables of {args.rows:,} rows (SQLite, mode full), {os.cpu_count()} cores",
             "", "| run | seconds | per unit |", "|---|---:|---:|"]
    lines += [f"| {name} | {seconds:.1f} | {seconds / n * 1000:.0f} ms |" for name, seconds in runs]
    lines += ["", f"Units: {n:,} ({first['written']} written by the first inline run). Imports before the first "
              f"unit (inline job): {first['imports']:.2f} s. Rows: {first['rows']:,}."]
    write_report("small-units", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The demo-scale export run through Prefect: rows/s with 1, 2 and 4 Dask worker processes (a
distributed.LocalCluster, reached by address as a real cluster would be), the thread runner for
reference, and the Prefect layer's overhead per unit: the same units exported by a plain loop of
export_unit (no Prefect) against the flow on one thread. Each measurement is a fresh process talking
to a `prefect server start` whose database is PostgreSQL (what production should use) or SQLite.

    python bench/dask_scale.py --scale 1 --repeat 3 --server postgres
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, prefect_server, run_job, write_report

PROJECT = """project: dask-bench
sources:
  helpdesk: {{type: sqlite, path: data/helpdesk.db, timezone: UTC}}
archive:
  default: local
  targets:
    local: {{type: local, path: ./archive}}
limits: {{max_parallel_per_source: {parallel}}}
pii: {{hash_key: env:ARCHIVAL_PII_KEY}}
"""

DIRECT_JOB = """
import sys, json, time
from datetime import datetime, UTC
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tests.run.helpers import run_units
t = time.perf_counter()
_, results = run_units(Path(sys.argv[1]), datetime.now(UTC))
assert all(r.outcome == "written" for r in results), [r.outcome for r in results]
print(json.dumps({"seconds": time.perf_counter() - t, "rows": sum(r.rows for r in results), "units": len(results)}))
"""

FLOW_JOB = """
import sys, json, time, logging
from pathlib import Path
folder, runner, workers = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
from archival.run.flow import run_project
options, cluster_seconds = {"workers": workers}, 0.0
if runner == "dask":
    from distributed import LocalCluster
    t = time.perf_counter()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.ERROR)
    cluster_seconds = time.perf_counter() - t
    options = {"dask_address": cluster.scheduler_address}
t = time.perf_counter()
summary = run_project(folder, runner=runner, ignore_quiet_hours=True, progress=False, **options)
seconds = time.perf_counter() - t
assert not summary.failed, [(r.unit_id, r.error) for r in summary.failed]
assert all(r.outcome == "written" for r in summary.results)
print(json.dumps({"seconds": seconds, "rows": sum(r.rows for r in summary.results), "units": len(summary.results),
                  "cluster_seconds": cluster_seconds}))
"""


def _measure(folder: Path, parallel: int, code: str, *args: str, env: dict) -> dict:
    """One fresh archive, the per-source limit set to `parallel`, `code` in a new process."""
    (folder / "archival.yaml").write_text(PROJECT.format(parallel=parallel))
    shutil.rmtree(folder / "archive", ignore_errors=True)
    return run_job(code, str(folder), *args, env=env)


def _row(name: str, results: list[dict], base: float | None = None) -> tuple[str, float]:
    secs = [r["seconds"] for r in results]
    med = statistics.median(secs)
    rows = results[0]["rows"]
    ratio = f"{base / med:.2f}" if base else "1.00"
    return (f"| {name} | {results[0]['units']} | {rows:,} | {med:.2f} | {max(secs) - min(secs):.2f} | "
            f"{rows / med:,.0f} | {ratio} |"), med


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0, help="demo size multiplier (1 = make run's demo)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--server", choices=["postgres", "sqlite"], nargs="+", default=["postgres", "sqlite"],
                        help="Prefect server databases to measure against (the first also runs the Dask scaling)")
    args = parser.parse_args()
    lines = [f"# Prefect layer and Dask scale-out: demo helpdesk at scale {args.scale}, {args.repeat} repeats, "
             f"{os.cpu_count()} cores", ""]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "project"
        shutil.copytree(ROOT / "specs", folder / "specs")
        subprocess.run([sys.executable, "-m", "archival.demo.helpdesk", str(folder / "data" / "helpdesk.db"),
                        "--scale", str(args.scale)], check=True)
        base_env = {"ARCHIVAL_PII_KEY": "bench", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                    "PREFECT_LOGGING_LEVEL": "WARNING"}
        direct = [_measure(folder, 1, DIRECT_JOB, str(ROOT), env=base_env) for _ in range(args.repeat)]
        direct_line, direct_med = _row("plain loop of export_unit, no Prefect", direct)
        for n, backend in enumerate(args.server):
            with prefect_server(backend, Path(tmp) / f"prefect-{backend}") as (url, startup):
                env = {**base_env, "PREFECT_API_URL": url, "PREFECT_HOME": str(Path(tmp) / "client-home")}
                print(f"prefect server ({backend}) healthy after {startup:.1f}s")
                flow1 = [_measure(folder, 1, FLOW_JOB, "thread", "1", env=env) for _ in range(args.repeat)]
                table = ["| how | units | rows | median s | spread s | rows/s | speed-up |",
                         "|---|---:|---:|---:|---:|---:|---:|", direct_line]
                line, flow_med = _row("flow, thread runner, 1 at a time", flow1, direct_med)
                table.append(line)
                if n == 0:
                    threads = [_measure(folder, 2, FLOW_JOB, "thread", "2", env=env) for _ in range(args.repeat)]
                    table.append(_row("flow, thread runner, 2 at a time", threads, direct_med)[0])
                    clusters = []
                    for workers in args.workers:
                        runs = [_measure(folder, workers, FLOW_JOB, "dask", str(workers), env=env)
                                for _ in range(args.repeat)]
                        clusters += [r["cluster_seconds"] for r in runs]
                        table.append(_row(f"flow, Dask LocalCluster, {workers} worker process(es)", runs,
                                          direct_med)[0])
                        print(table[-1])
                units = flow1[0]["units"]
                lines += [f"## Prefect server on {backend} (started in {startup:.1f} s)", "", *table, "",
                          f"Prefect layer overhead per unit: {(flow_med - direct_med) / units * 1000:,.0f} ms "
                          f"((flow on one thread - plain loop) / {units} units; includes the flow run, task runs, "
                          "state reports, global concurrency slots and the run record)", ""]
                if n == 0:
                    lines += [f"Dask LocalCluster start (not in the figures above): median "
                              f"{statistics.median(clusters):.1f} s", ""]
    lines += ["speed-up: plain loop seconds / these seconds. Each unit reads the one SQLite source; the "
              "per-source limit is set to the number of workers so admission does not cap them."]
    write_report("dask-scale", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

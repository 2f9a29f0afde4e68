"""Start-up: the bundled demo (`make run`'s project, 53 units) run again with nothing changed, as a user
runs it: `archival run` in a fresh process from archival installed without dev extras, direct (no
Prefect server configured) and as a flow against a running Prefect server (PostgreSQL-backed),
alternating in rounds. The issue's targets: under 5 s without a server, under 3 s against one.

    python bench/startup.py --repeat 5
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

from common import ROOT, prefect_server, user_install, write_report

TARGETS = {"direct": 5.0, "flow": 3.0}
AS_OF = "2026-12-01T00:00:00Z"  # fixed, so every run after the first finds nothing to do


def demo_project(folder: Path, bin_dir: Path) -> Path:
    """A copy of the demo project with its generated SQLite app (what `make run` archives)."""
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "archival.yaml", folder / "archival.yaml")
    shutil.copytree(ROOT / "specs", folder / "specs")
    subprocess.run([str(bin_dir / "python"), "-m", "archival.demo.helpdesk", str(folder / "data" / "helpdesk.db")],
                   check=True, capture_output=True)
    return folder


def timed_run(bin_dir: Path, project: Path, api_url: str | None) -> tuple[float, str]:
    """Wall seconds of one `archival run` process and its summary's TOTAL row."""
    env = {**os.environ, "PREFECT_HOME": str(project / ".prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "ARCHIVAL_PII_KEY": "bench-only"}
    env.pop("PREFECT_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    started = time.perf_counter()
    done = subprocess.run([str(bin_dir / "archival"), "run", "--project-dir", str(project), "--no-progress",
                           "--ignore-quiet-hours", "--as-of", AS_OF], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"archival run failed:\n{done.stderr[-3000:]}")
    totals = [line for line in done.stdout.splitlines() if line.startswith("TOTAL")]
    if len(totals) != 1:
        raise SystemExit(f"no TOTAL row in the run's output:\n{done.stdout[-3000:]}")
    return seconds, totals[0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    bin_dir = user_install()
    runs: dict[str, list[float]] = {"direct": [], "flow": []}
    with tempfile.TemporaryDirectory() as tmp:
        project = demo_project(Path(tmp) / "demo", bin_dir)
        first, first_total = timed_run(bin_dir, project, None)
        print(f"first run (writes the archive): {first:.2f} s; {first_total}", flush=True)
        with prefect_server("postgres", Path(tmp) / "server") as (url, _):
            warm, _ = timed_run(bin_dir, project, url)  # the server's first flow run creates its flow
            print(f"warm-up flow run: {warm:.2f} s", flush=True)
            for round_no in range(args.repeat):
                for how in ("direct", "flow"):
                    seconds, total = timed_run(bin_dir, project, url if how == "flow" else None)
                    if " written" in total:
                        raise SystemExit(f"a nothing-changed run wrote units: {total}")
                    runs[how].append(seconds)
                    again_total = total
                    print(f"round {round_no + 1} {how}: {seconds:.2f} s", flush=True)
    lines = [f"# Start-up: the demo run again with nothing changed ({os.cpu_count()} cores, {args.repeat} rounds)",
             "", "| how | median s | min | max | target | met |", "|---|---:|---:|---:|---:|---|"]
    names = {"direct": "`archival run` direct (no server configured)",
             "flow": "`archival run`, a flow against a running server (PostgreSQL)"}
    for how, seconds in runs.items():
        median = statistics.median(seconds)
        lines.append(f"| {names[how]} | {median:.2f} | {min(seconds):.2f} | {max(seconds):.2f} | "
                     f"< {TARGETS[how]:.0f} s | {'yes' if median < TARGETS[how] else 'no'} |")
    lines += ["", f"First run, writing the archive: {first:.2f} s ({first_total.split()[1]} units). "
              f"The server's first flow run (it creates the flow): {warm:.2f} s, not counted.",
              f"A nothing-changed run: {' '.join(again_total.split()[1:3])} units (full tables, the open period).",
              "Each run is a fresh process from archival installed without dev extras (bench/.user-venv)."]
    write_report("startup", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

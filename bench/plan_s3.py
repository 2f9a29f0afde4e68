"""Planning against an S3 archive with a round trip's latency: TABLES small SQLite tables archived to
moto's S3 server (its own process), reached through a loopback forwarder that holds every chunk
DELAY_MS in each direction (a round trip of about twice that, as to a real S3 region). Times
`build_plan` (what every run does first: each table's manifests, objects and purges, then the
source probes) with the archive read one table at a time and ARCHIVE_READERS at once.

With `--daily-periods N`, one window table of N archived days instead (a daily table's history):
the plan reads every period's current manifest, timed with one period at a time and READERS
at once (archive/round_trips.py). The archive is written locally and copied into the bucket.

With `--run`, whole first runs instead (`archival run` direct, a fresh process, the TABLES tables into
an empty bucket each time): what a unit's own requests cost through the same link (locks, the
commit's listings, parts, manifests, audit entries, lineage events).

    python bench/plan_s3.py --tables 300 --delay-ms 10
    python bench/plan_s3.py --daily-periods 391 --delay-ms 10
    python bench/plan_s3.py --tables 100 --delay-ms 10 --run
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import ROOT, free_port, write_report
from small_units import generate


class SlowLink:
    """A TCP forwarder on loopback that delays every chunk by `delay` seconds."""

    def __init__(self, target: int, delay: float):
        self.target, self.delay = target, delay
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.server.accept()
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                time.sleep(self.delay)
                b.sendall(data)
        except OSError:
            pass
        finally:
            for end in (a, b):
                end.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", type=int, default=300)
    parser.add_argument("--delay-ms", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--daily-periods", type=int, default=0, help="one daily table of this many periods")
    parser.add_argument("--run", action="store_true", help="time whole first runs, not plans")
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    os.environ.pop("PREFECT_API_URL", None)
    port = free_port()
    moto = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import boto3

        for _ in range(100):
            try:
                boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}").create_bucket(Bucket="bench")
                break
            except Exception:  # noqa: BLE001 - the server is still starting: try again
                time.sleep(0.1)
        link = SlowLink(port, args.delay_ms / 1000)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "p"
            target = ("archive:\n  default: s3\n  targets:\n    s3: {{type: s3, bucket: bench, "
                      "endpoint_url: 'http://127.0.0.1:{port}', allow_http: true}}\n")
            if args.run:
                generate(folder, args.tables, 100)
                config = (folder / "archival.yaml").read_text().split("archive:")[0]
                return report_runs(args, run_times(folder, config, target, port, link.port, args.repeat))
            if args.daily_periods:
                config = daily_table(folder, args.daily_periods, port)
            else:
                generate(folder, args.tables, 100)
                config = (folder / "archival.yaml").read_text().split("archive:")[0]
                (folder / "archival.yaml").write_text(config + target.format(port=port))  # fast: to fill it
                archive(folder)
            (folder / "archival.yaml").write_text(config + target.format(port=link.port))  # slow: to plan
            times = plan_times(folder, args.repeat, periods=bool(args.daily_periods))
    finally:
        moto.terminate()
        moto.wait(timeout=30)
    what, count = ("period", args.daily_periods) if args.daily_periods else ("table", args.tables)
    lines = [f"# Planning against S3 with latency: {count} {what}s, {args.delay_ms:g} ms each way per chunk "
             f"(moto), {os.cpu_count()} cores", "", f"| archive read | median s | per {what} |", "|---|---:|---:|"]
    for readers, seconds in times.items():
        median = statistics.median(seconds)
        lines.append(f"| {readers} {what}(s) at once | {median:.2f} | {median / count * 1000:.0f} ms |")
    lines += ["", "`build_plan` in one process; the source probes (SQLite, local) are the same in both."]
    write_report("plan-s3-periods" if args.daily_periods else "plan-s3", "\n".join(lines) + "\n")
    return 0


def run_times(folder: Path, config: str, target: str, port: int, slow_port: int, repeat: int) -> list[float]:
    """Seconds of whole first runs through the slow link, each into a bucket of its own."""
    import shutil

    import boto3

    times = []
    for i in range(repeat):
        bucket = f"run{i}"
        boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}").create_bucket(Bucket=bucket)
        shutil.rmtree(folder / ".archival", ignore_errors=True)  # the last run's anchors: another archive
        (folder / "archival.yaml").write_text(config + target.format(port=slow_port).replace("bench", bucket))
        started = time.perf_counter()
        archive(folder)
        times.append(time.perf_counter() - started)
        print(f"run {i + 1}: {times[-1]:.2f} s", flush=True)
    return times


def report_runs(args: argparse.Namespace, times: list[float]) -> int:
    median = statistics.median(times)
    lines = [f"# First runs against S3 with latency: {args.tables} tables, {args.delay_ms:g} ms each way per "
             f"chunk (moto), {os.cpu_count()} cores", "", "| run | median s | per unit | runs |", "|---|---:|---:|---|",
             f"| `archival run` direct, into an empty bucket | {median:.2f} | {median / args.tables * 1000:.0f} ms | "
             f"{', '.join(f'{t:.2f}' for t in times)} |"]
    write_report("run-s3", "\n".join(lines) + "\n")
    return 0


def archive(folder: Path, *extra: str) -> None:
    done = subprocess.run([sys.executable, "-m", "archival.cli", "run", "--project-dir", str(folder), "--no-progress",
                           "--as-of", "2026-12-01T00:00:00Z", *extra], capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"archival run failed:\n{done.stderr[-3000:]}")


def daily_table(folder: Path, periods: int, port: int) -> str:
    """A SQLite table of 160 rows a day over `periods` days up to 2026-12-01, archived locally, the
    archive copied into the bucket; returns the project file without its archive section."""
    import boto3

    (folder / "specs").mkdir(parents=True)
    first = datetime(2026, 12, 1) - timedelta(days=periods)
    with closing(sqlite3.connect(folder / "app.db")) as con:
        con.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, created_at TIMESTAMP, name TEXT)")
        con.executemany("INSERT INTO events VALUES (?, ?, ?)",
                        [(i, (first + timedelta(minutes=9 * i)).isoformat(sep=" "), f"e{i}")
                         for i in range(periods * 160)])
        con.commit()
    (folder / "specs" / "d.yaml").write_text("domain: d\nowner: o@example.com\nsource: app\ntables:\n  events: "
                                             "{relation: events, primary_key: [id], mode: window, cursor: created_at, "
                                             "period: day, lag: 0s}\n")
    config = "project: daily\nsources:\n  app: {type: sqlite, path: app.db, timezone: UTC}\n"
    (folder / "archival.yaml").write_text(config + "archive:\n  default: local\n  targets:\n"
                                                   "    local: {type: local, path: ./archive}\n")
    archive(folder)
    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}")
    root = folder / "archive"
    for path in root.rglob("*"):
        if path.is_file() and ".work" not in path.parts:
            client.put_object(Bucket="bench", Key=path.relative_to(root).as_posix(), Body=path.read_bytes())
    return config


def plan_times(folder: Path, repeat: int, periods: bool = False) -> dict[int, list[float]]:
    """build_plan's seconds with the archive read one at a time and at once: tables (ARCHIVE_READERS)
    or, with `periods`, a table's periods (archive/round_trips.py's pool)."""
    import archival.archive.round_trips as round_trips
    import archival.plan.build as build
    from archival.spec.load import load_project

    project = load_project(folder)
    tables = [t for d in project.domains for t in d.tables]
    most = round_trips.READERS if periods else build.ARCHIVE_READERS
    times: dict[int, list[float]] = {1: [], most: []}
    default_tables, default_pool = build.ARCHIVE_READERS, round_trips._POOL
    for _ in range(repeat):
        for readers in times:
            if periods:
                round_trips._POOL = ThreadPoolExecutor(readers)
            else:
                build.ARCHIVE_READERS = readers
            started = time.perf_counter()
            plan = build.build_plan(project, tables, as_of=datetime(2026, 12, 1, tzinfo=UTC))
            times[readers].append(time.perf_counter() - started)
            assert not plan.has_errors and (periods or len(plan.due) == len(tables)), plan.notes
            print(f"{readers} reader(s): {times[readers][-1]:.2f} s", flush=True)
    build.ARCHIVE_READERS, round_trips._POOL = default_tables, default_pool
    return times


if __name__ == "__main__":
    sys.exit(main())

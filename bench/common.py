"""What the benchmarks share: a throwaway PostgreSQL database, a throwaway project, and running a
measured job in a fresh process (so peak RSS is that job's own)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
PROJECT_FILE = ("project: bench\nsources:\n  {source}\narchive:\n  default: local\n"
                "  targets:\n    local: {{type: local, path: ./archive}}\npii: {{hash_key: env:ARCHIVAL_PII_KEY}}\n")
PG_SOURCE = "pg: {type: postgres, dsn: env:BENCH_DSN}"
# The bench table's contract (4 columns) and PII rule (HMAC of the title): the same on every source.
CONTRACT = {"id": "type: int32, nullable: false, unique: true",
            "status": "allowed: [new, open, pending, resolved, closed]",
            "amount": "min: 0, max: 100000",
            "title": "max_length: 200"}
PII = {"title": "pii: hash"}


# A table of ROWS events over three years (monthly periods from 2023-08), keyed by id: the purge and
# after-run benches archive it.
EVENTS_TABLE_SQL = """
CREATE TABLE public.events AS
SELECT g AS id,
       timestamp '2023-08-01' + (g::float / {rows} * interval '3 years') AS created_at,
       (ARRAY['new','open','pending','resolved','closed'])[g % 5 + 1] AS status,
       round((g % 100000) / 7.0, 2)::numeric(12,2) AS amount,
       'Event ' || g || ': ' || md5(g::text) AS title,
       g % 2 = 0 AS flag
FROM generate_series(1, {rows}) g;
ALTER TABLE public.events ADD PRIMARY KEY (id);
CREATE INDEX ON public.events (created_at);
"""


# One inline export (no Prefect) of the project in argv[1] as of argv[3], in the job's own process:
# its seconds, rows and peak RSS.
EXPORT_JOB = """
import sys, json, time, resource
from datetime import datetime
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tests.run.helpers import run_units
t = time.perf_counter()
_, results = run_units(Path(sys.argv[1]), datetime.fromisoformat(sys.argv[3]))
print(json.dumps({"seconds": time.perf_counter() - t, "rows": sum(r.rows for r in results),
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def events_spec(settings: str) -> str:
    """The events table as a monthly window domain; `settings`: more keys of the table (indented 4)."""
    return ("domain: bench\nowner: bench@example.com\nsource: pg\ntables:\n  events:\n    relation: public.events\n"
            "    primary_key: [id]\n    mode: window\n    cursor: created_at\n    period: month\n    lag: 0s\n"
            + settings)


def tickets_spec(source: str, relation: str, contract: bool = True, pii: bool | None = None) -> str:
    """The bench domain's spec: the tickets table, full mode, with or without the contract and the
    HMAC of the title (`pii`: as `contract` unless given)."""
    hashed = contract if pii is None else pii
    lines = []
    for column in {**CONTRACT, **PII}:
        settings = ([PII[column]] if hashed and column in PII else []) + \
                   ([CONTRACT[column]] if contract and column in CONTRACT else [])
        if settings:
            lines.append(f"      {column}: {{{', '.join(settings)}}}\n")
    columns = "".join(lines)
    return (f"domain: bench\nowner: bench@example.com\nsource: {source}\ntables:\n  tickets:\n"
            f"    relation: {relation}\n    primary_key: [id]\n    mode: full\n"
            + (f"    columns:\n{columns}" if columns else ""))


def bench_env(dsn: str, folder: str) -> dict[str, str]:
    """What a timed `archival run` of the bench project needs in its environment (its Prefect home
    under `folder`); PREFECT_API_URL decides direct or flow."""
    return {"BENCH_DSN": dsn, "ARCHIVAL_PII_KEY": "bench", "PREFECT_HOME": f"{folder}/home",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}

# Raw DuckDB: the source's scanner (loaded as archival loads it) copying one relation to Parquet zstd.
DUCKDB_COPY_JOB = """
import sys, json, time, os, resource
from archival.source.duck import connect
kind, dsn, relation, out = sys.argv[1:5]
con = connect((kind,))
con.execute(f"ATTACH '{dsn}' AS src (TYPE {kind}, READ_ONLY)")
t = time.perf_counter()
con.execute(f"COPY (SELECT * FROM src.{relation}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
print(json.dumps({"seconds": time.perf_counter() - t, "rows": None, "bytes": os.path.getsize(out),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


@contextmanager
def temp_database(table_sql: str) -> Iterator[str]:
    """A fresh database holding the table that `table_sql` creates; yields its DSN, drops it after."""
    name = f"archival_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = f"host=127.0.0.1 port=5432 user=postgres dbname={name}"
    try:
        with psycopg.connect(dsn, autocommit=True) as con:
            started = time.perf_counter()
            con.execute(table_sql)
            con.execute("VACUUM ANALYZE")
            print(f"generated the table in {time.perf_counter() - started:.1f}s")
        yield dsn
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


USER_VENV = ROOT / "bench" / ".user-venv"


def built_venv(folder: Path, install: list[str], inputs: list[Path]) -> tuple[Path | None, str]:
    """The bin folder of a venv at `folder` holding `pip install *install`, built on first use and
    again when one of `inputs` changed; (None, why) when it cannot be built."""
    stamp = folder / ".installed"
    if stamp.exists() and all(stamp.stat().st_mtime >= f.stat().st_mtime for f in inputs):
        return folder / "bin", ""
    print(f"building {folder} ...", flush=True)
    for step in ([sys.executable, "-m", "venv", "--clear", str(folder)],
                 [str(folder / "bin" / "pip"), "install", "--quiet", *install]):
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode:
            return None, f"{' '.join(step[:4])} failed: {done.stderr.strip()[-2000:]}"
    stamp.touch()
    return folder / "bin", ""


def user_install() -> Path:
    """The bin folder of archival installed as a user installs it (`pip install .`, no dev extras).
    Timed processes run from it: the dev venv has test libraries that the run's own libraries pick
    up when present (Pandera imports hypothesis, 0.3 s), which a user's install never pays.

    Not editable: pip compiles an install's modules to bytecode, as a user's `pip install` does. An
    editable install imports archival from the source tree, and where PYTHONDONTWRITEBYTECODE is set
    (this workplace sets it) it compiled archival's 180 modules in every timed process: 0.4-0.8 s
    that no user pays. archival itself is installed again whenever one of its files changed."""
    constraints = ROOT / "constraints.txt"
    bin_dir, why = built_venv(USER_VENV, ["-c", str(constraints), str(ROOT)], [ROOT / "pyproject.toml", constraints])
    if bin_dir is None:
        raise SystemExit(why)
    stamp = USER_VENV / ".archival-installed"
    # the package's own files; bytecode that importing it from the source tree writes is not a change
    newest = max(f.stat().st_mtime for f in (ROOT / "archival").rglob("*")
                 if f.is_file() and "__pycache__" not in f.parts)
    if not stamp.exists() or stamp.stat().st_mtime < newest:
        print("installing archival into the bench's user venv ...", flush=True)
        done = subprocess.run([str(bin_dir / "pip"), "install", "--quiet", "--no-deps", "--force-reinstall",
                               str(ROOT)], capture_output=True, text=True, check=False)
        if done.returncode:
            raise SystemExit(f"pip install {ROOT} failed: {done.stderr.strip()[-2000:]}")
        stamp.touch()
    return bin_dir


def write_project(folder: Path, spec: str, source: str = PG_SOURCE, extra: str = "") -> Path:
    (folder / "specs").mkdir(parents=True, exist_ok=True)
    (folder / "specs" / "bench.yaml").write_text(spec)
    (folder / "archival.yaml").write_text(PROJECT_FILE.format(source=source) + extra)
    return folder


def run_job(code: str, *args: str, env: dict | None = None) -> dict:
    """Run `code` in a new interpreter; its last stdout line is a JSON result."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise SystemExit(f"job failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - started  # with interpreter start; "seconds" is the job itself
    return result


def write_report(name: str, text: str) -> Path:
    folder = Path(os.environ.get("BENCH_RESULTS", ROOT / "bench" / "results"))  # a quick look goes elsewhere
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{time.strftime('%Y-%m-%d')}-{os.uname().nodename}-{name}.md"
    out.write_text(text)
    print(text)
    return out


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def prefect_server(backend: str, home: Path) -> Iterator[tuple[str, float]]:
    """A `prefect server start` on loopback whose database is SQLite (Prefect's default) or a throwaway
    PostgreSQL database; yields (api_url, seconds until healthy)."""
    import httpx

    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    database = None
    if backend == "postgres":
        database = f"archival_bench_prefect_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
    elif backend != "sqlite":
        raise SystemExit(f"unknown server backend {backend!r}: sqlite or postgres")
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                               "--port", str(port), "--no-ui"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        while True:
            if server.poll() is not None:
                raise SystemExit(f"prefect server ({backend}) exited with {server.returncode}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - started > 120:
                raise SystemExit(f"prefect server ({backend}) not healthy after 120 s")
            time.sleep(0.2)
        yield url, time.perf_counter() - started
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        if database:
            with psycopg.connect(ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def stage_table(runs: dict[str, list[dict]]) -> list[str]:
    """Where archival's time goes: median seconds per stage of the unit's stage clock (run/clock.py),
    summed over the run's units."""
    stages = ("snapshot", "read", "contract", "handoff", "pii", "fingerprint", "parts", "record")
    lines = ["| where the time goes (median s) | " + " | ".join(stages) + " | run |",
             "|---|" + "---:|" * (len(stages) + 1)]
    for tool, results in runs.items():
        measured = [r for r in results if r.get("stages")]
        if not measured:
            continue
        per = {s: statistics.median(r["stages"].get(s, 0.0) for r in measured) for s in stages}
        run = statistics.median(r["seconds"] for r in measured)
        lines.append(f"| {tool} | " + " | ".join(f"{per[s]:.2f}" for s in stages) + f" | {run:.2f} |")
    lines += ["", "A big unit runs in two halves (run/tail.py): the reader (snapshot, read: waiting for the source's "
              "next batch, contract) and, on a second thread, the tail (pii, fingerprint, parts); `handoff` is the "
              "reader's wait for the tail. The halves overlap, so the entries add up to more than the run."]
    return lines


def results_table(rows: int, runs: dict[str, list[dict]]) -> tuple[list[str], dict[str, float]]:
    """Markdown rows per tool (medians of whole-process wall time) and the medians by tool."""
    lines = ["| tool | median s (process wall) | spread s | rows/s | Parquet MB/s | peak RSS MiB | rows written |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    medians = {}
    for tool, results in runs.items():
        if not results:
            continue
        secs = [r.get("wall", r["seconds"]) for r in results]  # whole process, as the peers are measured
        medians[tool] = med = statistics.median(secs)
        mb = statistics.median(r["bytes"] for r in results) / 1e6
        written = {r["rows"] for r in results}
        shown = "-" if written == {None} else ", ".join(f"{w:,}" + ("" if w == rows else " (MISSING ROWS)")
                                                          for w in sorted(written))
        lines.append(f"| {tool} | {med:.2f} | {max(secs) - min(secs):.2f} | {rows / med:,.0f} | "
                     f"{mb / med if mb else 0:.1f} | {max(r['peak_rss_mib'] for r in results):,.0f} | {shown} |")
    return lines, medians

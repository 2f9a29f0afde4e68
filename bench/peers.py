"""The alternatives the export bench measures archival against, each run the same way: a fresh
process, wall time, peak RSS of the largest process it started, and the row count of what it
actually wrote (a peer that reports success with missing rows is a failure, not a fast result).

- psql: `copy (select * from t) to stdout` into /dev/null, the floor of reading the table at all;
- dlt: sql_database with the connectorx and the pyarrow backends, to Parquet on the filesystem;
- Sling: `sling run` from the table to a Parquet file.
dlt and Sling live in bench/.peers, a separate venv built from bench/peers-requirements.txt, so none
of them is a dependency of archival."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from common import ROOT, built_venv

PEERS_VENV = ROOT / "bench" / ".peers"
REQUIREMENTS = ROOT / "bench" / "peers-requirements.txt"

# Runs a command, reports its wall time and the peak RSS of the largest process it started.
MEASURE = r"""
import json, re, resource, subprocess, sys, time
t = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
stderr = re.sub(r"\x1b\[[0-9;]*m", "", done.stderr)  # Sling colours its messages
print(json.dumps({"seconds": time.perf_counter() - t, "returncode": done.returncode, "stderr": stderr[-2000:],
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""

DLT_JOB = """
import glob, os, sys
import dlt
from dlt.sources.sql_database import sql_table
url, backend, out = sys.argv[1:4]
table = sql_table(credentials=url, schema="public", table="tickets", backend=backend)
pipeline = dlt.pipeline(pipeline_name=f"bench_{backend}", pipelines_dir=f"{out}/.dlt",
                        destination=dlt.destinations.filesystem(bucket_url=f"file://{out}/files"), dataset_name="bench")
pipeline.run(table, loader_file_format="parquet")
"""


def peers_python() -> tuple[Path | None, str]:
    """The peers venv's python, building the venv on first use; (None, why) when it cannot be built."""
    bin_dir, why = built_venv(PEERS_VENV, ["-r", str(REQUIREMENTS)], [REQUIREMENTS])
    return (bin_dir / "python" if bin_dir else None), (f"could not install the peers: {why}" if why else "")


def _measure(argv: list[str], env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-c", MEASURE, *argv], capture_output=True, text=True, check=True,
                          env={**os.environ, **env})
    return json.loads(done.stdout.strip().splitlines()[-1])


def parquet_rows(folder: Path) -> tuple[int, int]:
    """Rows and bytes of every Parquet file under `folder`."""
    import pyarrow.parquet as pq

    files = [p for p in folder.rglob("*.parquet") if p.is_file()]
    return sum(pq.ParquetFile(p).metadata.num_rows for p in files), sum(p.stat().st_size for p in files)


def psql_floor(dsn: str, relation: str) -> dict:
    result = _measure(["psql", dsn, "-X", "-q", "-c", f"copy (select * from {relation}) to stdout"], {})
    if result["returncode"] != 0:
        raise SystemExit(f"psql failed: {result['stderr']}")
    return {**result, "bytes": 0, "rows": None}


def dlt_export(python: Path, url: str, backend: str, out: Path) -> dict:
    env = {"RUNTIME__DLTHUB_TELEMETRY": "false", "DLT_DATA_DIR": str(out / ".dlt-data")}
    result = _measure([str(python), "-c", DLT_JOB, url, backend, str(out)], env)
    result["rows"], result["bytes"] = parquet_rows(out / "files")
    return result


def sling_export(python: Path, url: str, out: Path) -> dict:
    sling = python.parent / "sling"
    # the launcher would download the binary; the sling-linux-amd64 wheel ships it
    binary = next((python.parent.parent / "lib").glob("python3*/site-packages/sling_linux_amd64/bin/sling-linux-amd64"))
    env = {"PG_BENCH": f"{url}?sslmode=disable", "SLING_HOME_DIR": str(out / ".sling"),
           "SLING_DISABLE_TELEMETRY": "true", "SLING_BINARY": str(binary)}
    result = _measure([str(sling), "run", "--src-conn", "PG_BENCH", "--src-stream", "public.tickets",
                       "--tgt-object", f"file://{out}/sling/tickets.parquet"], env)
    result["rows"], result["bytes"] = parquet_rows(out / "sling")
    return result

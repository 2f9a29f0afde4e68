"""Candidates for the keyed PII hash and the row fingerprint, timed on N values / rows on all cores:
HMAC-SHA256 in DuckDB's SQL (archival before polars-hash), hashlib with precomputed HMAC states,
keyed BLAKE2b and polars-hash's HMAC (what archival uses for text columns); the row fingerprint
`sum-md5-json-v1` (DuckDB) against `sum-xxh3-text-v2` (polars + polars-hash, archive/row_text.py).
Prints seconds and values per second; nothing here changes what archival writes.

    python bench/hash_candidates.py --values 5000000
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time

import duckdb
import polars as pl
import polars_hash  # noqa: F401 - registers the namespaces
import pyarrow as pa

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from archival.archive.row_text import row_sums  # noqa: E402
from archival.write.pii import hash_sql  # noqa: E402

KEY = b"bench-key-0123456789"


def timed(label: str, fn, n: int, results: list) -> None:
    started = time.perf_counter()
    fn()
    seconds = time.perf_counter() - started
    results.append((label, seconds, n / seconds))
    print(f"{label}: {seconds:.2f} s", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--values", type=int, default=5_000_000)
    args = parser.parse_args()
    n = args.values
    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    titles = con.execute(f"SELECT 'Event ' || g || ': ' || md5(g::text) AS title, g AS id, g % 5 AS status, "
                         f"now() AS at FROM range({n}) t(g)").to_arrow_table()
    con.register("t", titles)
    values = titles.column("title").to_pylist()
    results: list = []

    timed("HMAC-SHA256 in DuckDB's SQL",
          lambda: con.execute(f"SELECT sum(length({hash_sql('title', KEY)})) FROM t").fetchone(), n, results)

    def precomputed() -> None:
        block = KEY.ljust(64, b"\0")
        inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        for value in values:
            h = inner.copy()
            h.update(value.encode())
            o = outer.copy()
            o.update(h.digest())
            o.hexdigest()
    timed("HMAC-SHA256, hashlib with precomputed states (1 thread: the GIL)", precomputed, n, results)
    timed("keyed BLAKE2b-256, hashlib (1 thread)",
          lambda: [hashlib.blake2b(v.encode(), key=KEY, digest_size=32).hexdigest() for v in values], n, results)
    frame = pl.from_arrow(pa.table({"title": titles.column("title")}))
    timed("HMAC-SHA256 in polars-hash, all cores (archival, text columns)",
          lambda: frame.select(pl.col("title").chash.hmac_sha256(key=KEY.decode())), n, results)

    timed("row fingerprint sum-md5-json-v1 in DuckDB",
          lambda: con.execute("SELECT sum(md5_number(to_json(r)::VARCHAR)) FROM t r").fetchone(), n, results)
    timed("  of which to_json", lambda: con.execute("SELECT sum(length(to_json(r)::VARCHAR)) FROM t r").fetchone(),
          n, results)
    timed("row fingerprint sum-xxh3-text-v2 in polars-hash (archival)", lambda: row_sums(titles), n, results)
    timed("DuckDB hash() of the row (not stable across versions)",
          lambda: con.execute("SELECT sum(hash(r)::HUGEINT) FROM t r").fetchone(), n, results)
    lines = [f"# Hash candidates: {n:,} values, {os.cpu_count()} cores", "", "| candidate | seconds | per second |",
             "|---|---:|---:|"]
    lines += [f"| {label} | {seconds:.2f} | {rate:,.0f} |" for label, seconds, rate in results]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Candidates for the keyed PII hash and the row fingerprint, timed on N values / rows on all cores:
HMAC-SHA256 in DuckDB's SQL (archival before polars-hash), hashlib with precomputed HMAC states,
keyed BLAKE2b and polars-hash's HMAC (what archival uses for text columns); the row fingerprint
`sum-md5-json-v1` (DuckDB) against `sum-xxh3-text-v2` (polars + polars-hash, archive/row_text.py) and
`sum-xxh3-words-v3` (archive/row_words.py), on a 4-column table in one call and on the export bench's
10-column table in 65,536-row batches, as a unit feeds them. Prints seconds and values per second;
nothing here changes what archival writes.

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
from archival.archive import row_text, row_words  # noqa: E402
from archival.write.pii import hash_sql  # noqa: E402

KEY = b"bench-key-0123456789"
# bench/export_pg.py's table, made in DuckDB (the same types as the export's batches)
BENCH_TABLE = """
SELECT g::INTEGER AS id, timestamptz '2023-01-01' + (g::DOUBLE / {rows} * 1095) * INTERVAL 1 DAY AS created_at,
       CASE WHEN g % 3 = 0 THEN NULL ELSE timestamptz '2026-01-01' - (g % 1000) * INTERVAL 1 HOUR END AS updated_at,
       ((g % 20000) + 1)::INTEGER AS customer_id, (['new','open','pending','resolved','closed'])[g % 5 + 1] AS status,
       round((g % 100000) / 7.0, 2)::DECIMAL(12,2) AS amount, 'Ticket ' || g || ': ' || md5(g::VARCHAR) AS title,
       CASE WHEN g % 10 = 0 THEN repeat('long note ', 20) END AS notes,
       '{{"tags": ["a", ' || (g % 7) || ']}}' AS tags, g % 2 = 0 AS is_vip
FROM range(1, {rows} + 1) r(g)
"""


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
    timed("row fingerprint sum-xxh3-text-v2 in polars-hash (archival 0.2.0)", lambda: row_text.row_sums(titles), n,
          results)
    timed("row fingerprint sum-xxh3-words-v3 in polars-hash (archival)", lambda: row_words.row_sums(titles), n, results)
    timed("DuckDB hash() of the row (not stable across versions)",
          lambda: con.execute("SELECT sum(hash(r)::HUGEINT) FROM t r").fetchone(), n, results)
    batches = con.execute(BENCH_TABLE.format(rows=n)).to_arrow_table().to_batches(max_chunksize=65_536)
    for label, module in (("sum-xxh3-text-v2", row_text), ("sum-xxh3-words-v3", row_words)):
        cpu = time.process_time()
        timed(f"row fingerprint {label}, the export bench's 10 columns in 65,536-row batches",
              lambda module=module: [module.row_sums(b) for b in batches], n, results)
        print(f"  CPU {time.process_time() - cpu:.2f} s", file=sys.stderr)
    lines = [f"# Hash candidates: {n:,} values, {os.cpu_count()} cores", "", "| candidate | seconds | per second |",
             "|---|---:|---:|"]
    lines += [f"| {label} | {seconds:.2f} | {rate:,.0f} |" for label, seconds, rate in results]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

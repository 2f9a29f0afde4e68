"""The row fingerprint `sum-md5-json-v1` must give the same value however it is computed (batch by
batch while exporting, over files when verifying) and forever: archives written by earlier versions
are verified with today's SQL."""

from __future__ import annotations

import hashlib
import json

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from archival.archive.fingerprint import RowFingerprint, combine, fingerprint_of, format_value


def _reference(rows_json: list[str]) -> str:
    """The algorithm as documented: per row MD5 of DuckDB's JSON text; the digest's first and last 8
    bytes, read little-endian (what md5_number_upper/lower give), summed modulo 2**64."""
    digests = [hashlib.md5(j.encode()).digest() for j in rows_json]
    return format_value(sum(int.from_bytes(d[:8], "little") for d in digests),
                        sum(int.from_bytes(d[8:], "little") for d in digests))


def _table(ids: list[int]) -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.int64()),
                     "title": pa.array([None if i % 3 == 0 else f"t\"{i}\u00e9" for i in ids], pa.string()),
                     "amount": pa.array([i / 4 for i in ids], pa.float64())})


def test_value_matches_the_documented_algorithm_and_the_first_release_sql():
    data = _table(list(range(50)))
    con = duckdb.connect()
    con.register("t", data)
    rows_json = [r[0] for r in con.execute("SELECT to_json(r)::VARCHAR FROM t r").fetchall()]
    # the SQL the first release shipped (two MD5 per row); archives it wrote must still verify
    upper, lower, count = con.execute(
        "SELECT sum(md5_number_upper(j))::HUGEINT, sum(md5_number_lower(j))::HUGEINT, count(*) "
        "FROM (SELECT to_json(r)::VARCHAR AS j FROM t r)").fetchone()
    value, rows = fingerprint_of(con, "t")
    assert rows == count == 50
    assert value == format_value(upper, lower) == _reference(rows_json)
    assert json.loads(rows_json[1]) == {"id": 1, "title": "t\"1\u00e9", "amount": 0.25}


def test_empty_relation_has_the_zero_fingerprint():
    con = duckdb.connect()
    con.register("t", _table([]))
    assert fingerprint_of(con, "t") == ("0" * 32, 0)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(-10**6, 10**6), max_size=300), st.integers(1, 7), st.randoms())
def test_batches_in_any_order_sum_to_the_whole(ids, cut, rnd):
    data = _table(ids)
    con = duckdb.connect()
    con.register("t", data)
    whole, _ = fingerprint_of(con, "t")
    batches = data.to_batches(max_chunksize=cut)
    rnd.shuffle(batches)
    running = RowFingerprint(threads=1)
    for batch in batches:
        running.add(batch)
    running.close()
    assert running.value == whole and running.rows == len(ids)
    halves = [RowFingerprint(threads=1) for _ in range(2)]
    for i, batch in enumerate(batches):
        halves[i % 2].add(batch)
    assert combine(*(h.value for h in halves)) == whole

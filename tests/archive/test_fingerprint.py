"""The row fingerprint `sum-md5-json-v1` must give the same value however it is computed (batch by
batch while exporting, over files when verifying) and forever: archives written by earlier versions
are verified with today's SQL."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archival.archive import row_text, row_words
from archival.archive.fingerprint import V2, V3, RowFingerprint, combine, fingerprint_of, format_value
from tests.archive.samples import SAMPLE


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


def _stage(data: pa.Table, cut: int, background: bool, algorithm=V2) -> RowFingerprint:
    stage = RowFingerprint(algorithm=algorithm, background=background)
    for batch in data.to_batches(max_chunksize=cut):
        assert list(stage.feed(batch)) == [batch]  # passed on at once, unchanged
    list(stage.finish())
    stage.close()
    return stage


@pytest.mark.parametrize("algorithm", [V2, V3])
@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(-10**6, 10**6), max_size=300), st.integers(1, 40))
def test_the_background_stage_gives_the_inline_value(algorithm, ids, cut):
    data = _table(ids)
    inline, background = _stage(data, cut, False, algorithm), _stage(data, cut, True, algorithm)
    assert (background.value, background.rows) == (inline.value, inline.rows) == (
        _fingerprint_of(data, algorithm), len(ids))


def _fingerprint_of(data: pa.Table, algorithm=V2) -> str:
    con = duckdb.connect()
    con.register("t", data)
    return fingerprint_of(con, "t", algorithm)[0]


def test_the_background_stage_holds_at_most_its_bound_and_reports_late_reads(monkeypatch):
    """While the worker is stuck, the unit's thread is held once IN_FLIGHT batches are with it (the
    memory bound); the value cannot be read before `finish`; a worker's error fails the unit."""
    gate, entered = threading.Event(), threading.Semaphore(0)
    real = row_text.row_sums

    def stuck(data):
        entered.release()
        gate.wait(10)
        return real(data)

    monkeypatch.setattr(row_text, "row_sums", stuck)
    stage = RowFingerprint(algorithm=V2, background=True)
    passed: list[pa.RecordBatch] = []
    feeder = threading.Thread(target=lambda: [passed.extend(stage.feed(b))
                                              for b in _table(list(range(60))).to_batches(max_chunksize=10)])
    feeder.start()
    assert entered.acquire(timeout=10)
    deadline = time.monotonic() + 10  # a busy machine may be slow to get there; it must not go further
    while len(passed) < RowFingerprint.IN_FLIGHT and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    assert len(passed) == RowFingerprint.IN_FLIGHT  # with the worker (one hashing); the next one held
    with pytest.raises(RuntimeError, match="still being added"):
        _ = stage.value
    gate.set()
    feeder.join(10)
    list(stage.finish())
    stage.close()
    assert len(passed) == 6 and stage.rows == 60 and stage.value == _fingerprint_of(_table(list(range(60))))

    monkeypatch.setattr(row_text, "row_sums", lambda data: 1 / 0)
    failing = RowFingerprint(algorithm=V2, background=True)
    list(failing.feed(_table([1, 2]).to_batches()[0]))
    with pytest.raises(ZeroDivisionError):
        list(failing.finish())
    failing.close()


ROW_HASHED = [row_text, row_words]  # v2 and v3: what both must tell apart and refuse


@pytest.mark.parametrize("module", ROW_HASHED, ids=[V2, V3])
@pytest.mark.parametrize("left, right", [
    ({"a": ["x\x1fy"], "b": ["z"]}, {"a": ["x"], "b": ["y\x1fz"]}),  # a separator inside a value
    ({"a": ["x"], "b": ["y"]}, {"a": ["y"], "b": ["x"]}),  # values swapped between columns
    ({"a": [None], "b": ["z"]}, {"a": [""], "b": ["z"]}),  # NULL is not the empty text
    ({"a": [None], "b": [1]}, {"a": [0], "b": [1]}),  # nor 0
    ({"a": ["1"], "b": ["z"]}, {"c": ["1"], "b": ["z"]}),  # a renamed column
    ({"a": ["1"], "b": ["z"]}, {"b": ["z"], "a": ["1"]}),  # columns in another order
    ({"a": [Decimal("1.50")]}, {"a": [Decimal("1.5")]}),  # a decimal keeps its scale
])
def test_rows_that_differ_have_different_fingerprints(module, left, right):
    assert module.row_sums(pa.table(left))[:2] != module.row_sums(pa.table(right))[:2]


@pytest.mark.parametrize("module", ROW_HASHED, ids=[V2, V3])
def test_a_duplicated_row_counts_twice(module):
    one = pa.table({"id": [1], "t": ["a"]})
    twice = format_value(*module.row_sums(pa.concat_tables([one, one]))[:2])
    assert twice not in (format_value(*module.row_sums(one)[:2]), "0" * 32)


@pytest.mark.parametrize("module", ROW_HASHED, ids=[V2, V3])
@pytest.mark.parametrize("type_", [pa.list_(pa.int32()), pa.struct([("x", pa.int32())]),
                                   pa.map_(pa.string(), pa.int32()), pa.month_day_nano_interval()])
def test_nested_and_interval_columns_have_no_row_hash(module, type_):
    assert not module.supports(pa.schema([("id", pa.int64()), ("odd", type_)]))


@pytest.mark.parametrize("module", ROW_HASHED, ids=[V2, V3])
def test_the_arrow_flavour_of_a_value_does_not_matter(module):
    """Export batches and files read back can differ in string layout, dictionary encoding and time
    zone name; the rows are the same, so the value is."""
    flavours = SAMPLE.set_column(1, "title", SAMPLE.column("title").cast(pa.large_string()))
    flavours = flavours.set_column(10, "status", SAMPLE.column("status").cast(pa.string()))
    flavours = flavours.set_column(6, "at", SAMPLE.column("at").cast(pa.timestamp("us", tz="Etc/UTC")))
    views = SAMPLE.set_column(1, "title", SAMPLE.column("title").cast(pa.string_view()))
    assert module.row_sums(flavours) == module.row_sums(views) == module.row_sums(SAMPLE)

"""The SQL implementation of the PII rules against the Python reference, on tricky values."""

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archival.spec.model import DEFAULT_SINCE, Column, Retention, Table
from archival.spec.values import parse_duration
from archival.write.pii import PiiTransform, hash_sql, hash_value


def _table(**rules):
    return Table(domain="d", name="t", relation="t", primary_key=("id",), mode="full", cursor=(), period=None,
                 lag=parse_duration("1h"), lookback=parse_duration("1d"), on_invalid="fail", null_cursor="partition",
                 drift="evolve", timezone="UTC", since=DEFAULT_SINCE, format="parquet", tier="hot",
                 retention=Retention(),
                 columns=tuple(Column(name=n, pii=r) for n, r in rules.items()))


TEXT_KEYS = st.text(min_size=1, max_size=100).map(str.encode)  # keys come from secrets as text: polars-hash
NON_UTF8_KEYS = st.binary(min_size=1, max_size=100).map(lambda b: b + b"\xff")  # only DuckDB can take these


@pytest.mark.parametrize("keys, hashed_by", [(TEXT_KEYS, "polars"), (NON_UTF8_KEYS, "duckdb")])
@pytest.mark.parametrize("text_type", [pa.string(), pa.large_string(), pa.string_view()])
def test_hash_matches_hmac_reference(keys, hashed_by, text_type):
    @settings(max_examples=40, deadline=None)
    @given(st.lists(st.one_of(st.none(), st.text()), min_size=1, max_size=30), keys)
    def check(values, key):
        batch = pa.RecordBatch.from_arrays([pa.array(range(len(values))), pa.array(values, text_type)],
                                           names=["id", "email"])
        transform = PiiTransform(_table(email="hash"), batch.schema, key)
        assert transform.polars_columns == (["email"] if hashed_by == "polars" else [])
        out = transform.apply(batch)
        assert out.column("email").to_pylist() == [None if v is None else hash_value(key, v) for v in values]
        assert out.schema.field("email").type == pa.string()
        assert out.column("id").to_pylist() == list(range(len(values)))  # order kept
    check()


def test_polars_and_duckdb_hash_alike_and_the_key_stays_out_of_expressions():
    values = ["zoe@example.com", "", "Ünïcødé ✓", None, "x" * 500]
    batch = pa.RecordBatch.from_pydict({"id": list(range(len(values))), "email": values})
    key = b"a-secret-key-of-the-project"
    transform = PiiTransform(_table(email="hash"), batch.schema, key)
    assert transform.polars_columns == ["email"]
    in_polars = transform.apply(batch).column("email").to_pylist()
    transform.polars_columns, transform.rule_columns = [], ["email"]  # the same batch through DuckDB's SQL
    hashed = hash_sql('email', key)
    transform.sql = f"SELECT CASE WHEN email IS NULL THEN NULL ELSE {hashed} END AS email FROM pii_batch"
    assert transform.apply(batch).column("email").to_pylist() == in_polars
    assert key.decode() not in repr(transform._polars_exprs) + str(transform._polars_exprs) + transform.sql


def test_mask_and_non_text_values():
    batch = pa.RecordBatch.from_pydict({"id": [1, 2, 3, 4], "email": ["zoe@example.com", "x", "", None],
                                        "phone": [4912345, None, 7, 8]})
    out = PiiTransform(_table(email="mask", phone="hash"), batch.schema, b"k").apply(batch)
    assert out.column("email").to_pylist() == ["z***@example.com", "x***", "", None]
    assert out.column("phone").to_pylist()[0] == hash_value(b"k", 4912345)
    assert out.schema.field("phone").type == pa.string()


CONCURRENT_APPLY = """
import threading
import pyarrow as pa
from archival.write.pii import PiiTransform
from tests.write.test_pii import _table

transform = PiiTransform(_table(email="mask", phone="hash"),
                         pa.schema([("email", pa.string()), ("phone", pa.int64())]), b"k")
batches = {n: pa.record_batch({"email": [f"u{n}-{i}@example.com" for i in range(2000)],
                               "phone": list(range(n * 10_000, n * 10_000 + 2000))}) for n in range(2)}
expected = {n: transform.apply(b) for n, b in batches.items()}
wrong = []

def work(n):
    for _ in range(60):
        if not transform.apply(batches[n]).equals(expected[n]):
            wrong.append(n)

threads = [threading.Thread(target=work, args=(n,)) for n in batches]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("wrong", len(wrong))
"""


def test_two_threads_applying_at_once_get_their_own_rows():
    """The stream's tail (run/tail.py) and the quarantine sink on the reader's thread apply the same
    transform at once; DuckDB's rules go through one registered view name, so without the lock one
    thread's batch would be hashed into the other's, or the two calls deadlock inside DuckDB (hence a
    process of its own, with a timeout)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run([sys.executable, "-c", CONCURRENT_APPLY], cwd=root, capture_output=True, text=True,
                              timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("two threads applying at once did not finish in 60 s (a deadlock)")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "wrong 0"

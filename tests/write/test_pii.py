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

"""The SQL implementation of the PII rules against the Python reference, on tricky values."""

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from archival.spec.model import DEFAULT_SINCE, Column, Retention, Table
from archival.spec.values import parse_duration
from archival.write.pii import PiiTransform, hash_value


def _table(**rules):
    return Table(domain="d", name="t", relation="t", primary_key=("id",), mode="full", cursor=(), period=None,
                 lag=parse_duration("1h"), lookback=parse_duration("1d"), on_invalid="fail", null_cursor="partition",
                 drift="evolve", timezone="UTC", since=DEFAULT_SINCE, format="parquet", tier="hot",
                 retention=Retention(),
                 columns=tuple(Column(name=n, pii=r) for n, r in rules.items()))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text()), min_size=1, max_size=30), st.binary(min_size=1, max_size=100))
def test_hash_matches_hmac_reference(values, key):
    batch = pa.RecordBatch.from_pydict({"id": list(range(len(values))), "email": values})
    transform = PiiTransform(_table(email="hash"), batch.schema, key)
    out = transform.apply(batch).column("email").to_pylist()
    assert out == [None if v is None else hash_value(key, v) for v in values]
    assert transform.apply(batch).column("id").to_pylist() == list(range(len(values)))  # order kept


def test_mask_and_non_text_values():
    batch = pa.RecordBatch.from_pydict({"id": [1, 2, 3, 4], "email": ["zoe@example.com", "x", "", None],
                                        "phone": [4912345, None, 7, 8]})
    out = PiiTransform(_table(email="mask", phone="hash"), batch.schema, b"k").apply(batch)
    assert out.column("email").to_pylist() == ["z***@example.com", "x***", "", None]
    assert out.column("phone").to_pylist()[0] == hash_value(b"k", 4912345)
    assert out.schema.field("phone").type == pa.string()

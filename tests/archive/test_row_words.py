"""The row fingerprint `sum-xxh3-words-v3` is what docs/archive.md says it is (an independent reference
built from the documented words with the `xxhash` library and `struct`, not polars), whatever Arrow
flavour the values arrive in, and sensitive to what an export could get wrong."""

from __future__ import annotations

import datetime as dt
import json
import struct
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from archival.archive import row_words
from archival.archive.fingerprint import V3, RowFingerprint
from archival.archive.row_words import row_sums, supports
from archival.checksums import format_value
from tests.archive.auditor import auditor_script, recompute, recompute_archive
from tests.archive.samples import SAMPLE, sum_in_halves
from tests.conftest import write_project
from tests.run.helpers import run_units

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
M64 = (1 << 64) - 1
UNIT = {"s": dt.timedelta(seconds=1), "ms": dt.timedelta(milliseconds=1), "us": dt.timedelta(microseconds=1)}


def _words(value: object, type_: pa.DataType) -> list[int]:
    """One value's words as docs/archive.md defines them (NULL: zeros, its bit set elsewhere)."""
    if pa.types.is_dictionary(type_):
        type_ = type_.value_type
    if value is None:
        return [0] * (3 if pa.types.is_decimal(type_) else 1)
    if pa.types.is_string(type_) or pa.types.is_large_string(type_) or pa.types.is_string_view(type_):
        return [xxhash.xxh3_64_intdigest(value.encode())]
    if pa.types.is_binary(type_) or pa.types.is_fixed_size_binary(type_):
        return [xxhash.xxh3_64_intdigest(value)]
    if pa.types.is_timestamp(type_):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return [((aware - EPOCH) // UNIT["ms" if type_.unit == "s" else type_.unit]) & M64]
    if pa.types.is_date32(type_) or pa.types.is_date64(type_):
        return [(value - dt.date(1970, 1, 1)).days & M64]
    if pa.types.is_time64(type_):
        return [(value.hour * 3600 + value.minute * 60 + value.second) * 10**9 + value.microsecond * 1000]
    if pa.types.is_duration(type_):
        return [(value // UNIT["ms" if type_.unit == "s" else type_.unit]) & M64]
    if pa.types.is_decimal(type_):
        unscaled = int(value.scaleb(type_.scale))
        return [unscaled & M64, (unscaled >> 64) & M64, type_.scale]
    if pa.types.is_floating(type_):
        return [struct.unpack("<Q", struct.pack("<d", float("nan") if value != value else value))[0]]
    return [int(value) & M64]  # integers, booleans


def _reference(table: pa.Table) -> str:
    seed = xxhash.xxh3_64_intdigest("\x1f".join(table.schema.names).encode())
    upper = lower = 0
    for row in table.to_pylist():
        words: list[int] = []
        nulls = [0] * ((table.num_columns + 63) // 64)
        for i, field in enumerate(table.schema):
            words += _words(row[field.name], field.type)
            if row[field.name] is None:
                nulls[i // 64] |= 1 << (i % 64)
        digest = xxhash.xxh3_128_intdigest(struct.pack(f"<{len(words) + len(nulls)}Q", *words, *nulls), seed=seed)
        upper, lower = upper + (digest >> 64), lower + (digest & M64)
    return format_value(upper, lower)


def _value(table: pa.Table | pa.RecordBatch) -> str:
    upper, lower, _ = row_sums(table)
    return format_value(upper, lower)


EDGES = pa.table({
    "big": pa.array([Decimal("-1"), Decimal(10**30), Decimal(-(10**30)), None], pa.decimal128(38, 0)),
    "u64": pa.array([0, 2**64 - 1, 2**63, None], pa.uint64()),
    "i64": pa.array([-(2**63), 2**63 - 1, -1, 0], pa.int64()),
    "f32": pa.array([1.5, float("nan"), -0.0, None], pa.float32()),
    "f64": pa.array([float("-inf"), float("nan"), 0.0, 1e-310], pa.float64()),
    "wait": pa.array([dt.timedelta(seconds=90), None, -dt.timedelta(microseconds=1), dt.timedelta(0)],
                     pa.duration("us")),
    "ms": pa.array([datetime(2024, 1, 1, 0, 0, 0, 5000), None, datetime(1900, 1, 1), datetime(2038, 1, 20)],
                   pa.timestamp("ms")),
    "i8": pa.array([-128, 127, None, 0], pa.int8()),
    # units polars and Parquet hold otherwise: seconds as milliseconds, a 64-bit date as days
    "secs": pa.array([datetime(2024, 1, 1, 0, 0, 1), None, datetime(1969, 12, 31, 23, 59, 59), datetime(2000, 1, 1)],
                     pa.timestamp("s")),
    "wait_s": pa.array([dt.timedelta(seconds=3), dt.timedelta(seconds=-2), None, dt.timedelta(0)], pa.duration("s")),
    "day64": pa.array([dt.date(2024, 2, 29), None, dt.date(1969, 12, 31), dt.date(1970, 1, 1)], pa.date64()),
    "fixed": pa.array([b"\x00\x01", b"ab", None, b"\xff\xff"], pa.binary(2)),  # how a UUID can arrive, shorter
})


@pytest.mark.parametrize("table", [SAMPLE, EDGES], ids=["sample", "edges"])
def test_value_matches_the_documented_words(table):
    assert supports(table.schema)
    assert _value(table) == _reference(table)
    running = RowFingerprint(algorithm=V3)
    for batch in table.to_batches(max_chunksize=3):
        running.add(batch)
    assert (running.value, running.rows) == (_reference(table), 4)


def test_a_nan_is_every_nan_and_a_negative_zero_is_not_zero():
    quiet, other = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000000))[0], \
        struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000001))[0]  # another NaN payload
    assert _value(pa.table({"f": pa.array([quiet])})) == _value(pa.table({"f": pa.array([other])}))
    assert _value(pa.table({"f": pa.array([0.0])})) != _value(pa.table({"f": pa.array([-0.0])}))


def test_more_than_64_columns_take_a_second_null_word():
    wide = pa.table({f"c{i}": pa.array([None if i in (3, 70) else i, i], pa.int64()) for i in range(80)})
    assert _value(wide) == _reference(wide)
    moved = wide.set_column(70, "c70", pa.array([70, 70], pa.int64()))  # NULL in the second word -> a value
    assert _value(moved) != _value(wide)


def test_an_integer_width_does_not_matter():
    narrow = EDGES.set_column(7, "i8", EDGES.column("i8").cast(pa.int64()))
    assert _value(narrow) == _value(EDGES)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), st.one_of(st.none(), st.text()),
                          st.one_of(st.none(), st.floats())), max_size=200),
       st.integers(1, 7), st.randoms())
def test_batches_in_any_order_sum_to_the_whole(rows, cut, rnd):
    data = pa.table({"id": pa.array([r[0] for r in rows], pa.int64()),
                     "t": pa.array([r[1] for r in rows], pa.string()),
                     "f": pa.array([r[2] for r in rows], pa.float64())})
    whole = _value(data) if rows else "0" * 32
    assert whole == _reference(data)
    assert sum_in_halves(data, V3, cut, rnd) == (whole, len(rows))


def test_batches_of_many_sizes_reuse_their_layouts():
    """The row layout is kept per batch size: a size seen again gives the same value from the cache."""
    data = pa.table({"id": pa.array(range(5_000), pa.int64()), "t": [f"r{i}" for i in range(5_000)]})
    row_words._layout.cache_clear()
    first = [_value(data.slice(0, n)) for n in (1, 17, 4_096, 5_000)]
    assert row_words._layout.cache_info().misses == 4
    assert [_value(data.slice(0, n)) for n in (1, 17, 4_096, 5_000)] == first
    assert row_words._layout.cache_info().hits == 4
    assert first[-1] == _reference(data)


def _auditor_script(tmp_path):
    script = auditor_script(tmp_path, V3)
    assert "polars" not in script.read_text()  # pyarrow and xxhash only
    return script


@pytest.mark.parametrize("table", [SAMPLE, EDGES], ids=["sample", "edges"])
def test_the_documented_auditor_script_recomputes_every_type(table, tmp_path):
    pq.write_table(table, tmp_path / "part.parquet")
    read_back = pq.read_table(tmp_path / "part.parquet")
    assert _value(read_back) == _value(table)  # what Parquet keeps is what was hashed
    (tmp_path / "m.json").write_text(json.dumps({"files": [{"path": "part.parquet"}],
                                                 "fingerprint": {"value": _value(table)}}))
    assert recompute(_auditor_script(tmp_path), tmp_path, "m.json") == f"{_value(table)} ok"


def test_the_documented_auditor_script_recomputes_an_archive(shop_project, tmp_path):
    run_units(shop_project, datetime(2026, 12, 1, tzinfo=UTC))
    assert recompute_archive(_auditor_script(tmp_path), shop_project / "archive", V3) >= 3


def test_the_auditor_script_recomputes_a_postgresql_unit(pg_dsn, tmp_path, monkeypatch):
    """A unit read from PostgreSQL with the types a low-code app stores: its manifest's v3 value is
    the one the documented script computes from the archived file without archival."""
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("CREATE TABLE notes (id bigint PRIMARY KEY, stars smallint, day date, at timestamptz, "
                    "naive timestamp, price numeric(12,2), ratio double precision, done boolean, body text, "
                    "blob bytea, clock time, doc jsonb)")
        con.execute("INSERT INTO notes SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE g % 6 END, "
                    "date '2020-01-01' + g % 900, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', "
                    "timestamp '1999-12-31 23:00' + g * interval '1 minute', (g * 1.25)::numeric(12,2), "
                    "CASE WHEN g % 5 = 0 THEN 'NaN'::float8 ELSE g / 3.0 END, g % 2 = 0, "
                    "CASE WHEN g % 11 = 0 THEN NULL ELSE repeat('ü', g % 40) END, decode(md5(g::text), 'hex'), "
                    "time '00:00' + g * interval '1 second', jsonb_build_object('n', g) "
                    "FROM generate_series(1, 3000) g")
    monkeypatch.setenv("APP_DSN", pg_dsn)
    spec = ("domain: app\nowner: o@example.com\nsource: pg\ntables:\n"
            "  notes: {relation: notes, primary_key: [id], mode: full}\n")
    project = write_project(tmp_path / "p", "  pg: {type: postgres, dsn: env:APP_DSN}", {"app": spec})
    run_units(project, datetime(2026, 12, 1, tzinfo=UTC))
    archive = project / "archive"
    [manifest] = list(archive.rglob("_manifests/*/v*.json"))
    assert json.loads(manifest.read_bytes())["fingerprint"]["algorithm"] == V3
    assert recompute(_auditor_script(tmp_path), archive, manifest.relative_to(archive).as_posix()).endswith(" ok")


def test_a_batch_whose_columns_are_all_null_typed():
    """Columns of Arrow's null type (every value NULL, e.g. an empty SQLite column) still give one
    row hash per row."""
    nothing = pa.table({"a": pa.nulls(3), "b": pa.nulls(3)})
    assert supports(nothing.schema)
    assert row_sums(nothing)[2] == 3
    assert _value(nothing) == _reference(nothing)


def test_the_documented_auditor_script_recomputes_the_0_3_0_golden_archive(golden_030, tmp_path):
    """Committed files written by release 0.3.0: a change of polars-hash's XXH3 or of a word breaks this."""
    assert recompute_archive(_auditor_script(tmp_path), golden_030 / "archive", V3) == 25


def test_a_table_larger_than_a_slice_sums_as_its_slices(monkeypatch):
    """row_sums lays big inputs out a slice at a time (the gather stays in the caches); the value is
    the whole's, with a last slice shorter than the others."""
    data = pa.table({"id": pa.array(range(1_000), pa.int64()), "t": [None if i % 9 else f"r{i}" for i in range(1_000)]})
    whole = _value(data)
    monkeypatch.setattr(row_words, "SLICE_ROWS", 64)
    assert _value(data) == whole == _reference(data)
    assert row_sums(data)[2] == 1_000

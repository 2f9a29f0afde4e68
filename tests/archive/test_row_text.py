"""The row fingerprint `sum-xxh3-text-v2` is what docs/archive.md says it is (an independent reference
built from the documented row text with the `xxhash` library, not polars), whatever Arrow flavour the
values arrive in, and sensitive to what an export could get wrong."""

from __future__ import annotations

import datetime as dt
import json
from datetime import UTC, datetime
from unittest import mock

import polars as pl
import pyarrow as pa
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from archival.archive import row_text
from archival.archive.fingerprint import V2, RowFingerprint, combine
from archival.archive.row_text import LOOKUP, looked_up_columns, row_sums, supports
from archival.checksums import format_value
from tests.archive.auditor import auditor_script, recompute, recompute_archive
from tests.archive.samples import SAMPLE, sum_in_halves
from tests.conftest import write_project
from tests.run.helpers import run_units

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _text(value: object, type_: pa.DataType) -> str:
    """One value's text as docs/archive.md defines it."""
    if value is None:
        return ""
    if pa.types.is_string(type_) or pa.types.is_large_string(type_) or pa.types.is_dictionary(type_):
        return f"{len(value.encode())}:{value}"
    if pa.types.is_binary(type_):
        return f"{len(value)}:{value.hex()}"
    if pa.types.is_boolean(type_):
        return "true" if value else "false"
    if pa.types.is_timestamp(type_):
        assert type_.unit == "us"
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return str((aware - EPOCH) // dt.timedelta(microseconds=1))
    if pa.types.is_date32(type_):
        return str((value - dt.date(1970, 1, 1)).days)
    if pa.types.is_time64(type_):
        return str((value.hour * 3600 + value.minute * 60 + value.second) * 10**9 + value.microsecond * 1000)
    if pa.types.is_floating(type_):
        return repr(value)  # equal to polars' text for the values used here (docs/archive.md: polars decides)
    return str(value)  # integers, decimals (Decimal keeps its scale)


def _reference(table: pa.Table) -> str:
    seed = xxhash.xxh3_64_intdigest("\x1f".join(table.schema.names).encode())
    upper = lower = 0
    for row in table.to_pylist():
        text = "\x1f".join(_text(row[f.name], f.type) for f in table.schema)
        digest = xxhash.xxh3_128_intdigest(text.encode(), seed=seed)
        upper, lower = upper + (digest >> 64), lower + (digest & ((1 << 64) - 1))
    return format_value(upper, lower)


def _value(table: pa.Table | pa.RecordBatch) -> str:
    upper, lower, _ = row_sums(table)
    return format_value(upper, lower)




def test_value_matches_the_documented_row_text():
    assert supports(SAMPLE.schema)
    assert _value(SAMPLE) == _reference(SAMPLE)
    running = RowFingerprint(algorithm=V2)
    for batch in SAMPLE.to_batches(max_chunksize=3):
        running.add(batch)
    assert (running.value, running.rows) == (_reference(SAMPLE), 4)


def _edges(inside: bool) -> pa.Table:
    """Lengths and integers at the edges of the looked-up texts: all inside (0..LOOKUP-1), or some
    just outside, in the same types."""
    first = dt.date(1970, 1, 1)
    if inside:
        return pa.table({"n": pa.array([0, 1, LOOKUP - 1, None], pa.int64()),
                         "u": pa.array([0, 7, LOOKUP - 1, 3], pa.uint32()),
                         "day": pa.array([first, dt.date(2026, 11, 27), None, first + dt.timedelta(days=LOOKUP - 1)]),
                         "t": pa.array(["a" * (LOOKUP - 1), "", None, "ü" * 10], pa.string()),
                         "tag": pa.array(["x", "y", None, "x"]).dictionary_encode()})
    return pa.table({"n": pa.array([LOOKUP, -1, 5, None], pa.int64()),
                     "u": pa.array([LOOKUP, 0, 1, 2], pa.uint32()),
                     "day": pa.array([first - dt.timedelta(days=1), first + dt.timedelta(days=LOOKUP), None, first]),
                     "t": pa.array(["a" * LOOKUP, "ü" * 40_000, None, "b"], pa.string()),
                     "tag": pa.array(["x" * LOOKUP, "y", None, "x"]).dictionary_encode()})


@pytest.mark.parametrize("rows", [4, row_text.LOOKUP_ROWS])
def test_looked_up_texts_are_the_texts_a_cast_gives(rows):
    """Lengths and integers below LOOKUP take their text from a table (row_text._lookup_texts) in
    batches of LOOKUP_ROWS rows or more; the digests are the documented ones on both sides of its
    edge, and a batch of each sums as the whole."""
    inside, outside = pa.concat_tables([_edges(True)] * (rows // 4)), _edges(False)
    assert looked_up_columns(pl.from_arrow(inside)) == {"n", "u", "day", "t", "tag"}
    assert looked_up_columns(pl.from_arrow(outside)) == set()
    assert _value(inside) == _reference(inside)
    assert _value(outside) == _reference(outside)
    both = pa.concat_tables([inside, outside.cast(inside.schema)]).combine_chunks()
    assert combine(_value(inside), _value(outside)) == _value(both) == _reference(both)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.integers(0, LOOKUP + 5), st.integers(-10**12, 10**12)),
                          st.one_of(st.none(), st.text())), max_size=200),
       st.integers(1, 7), st.randoms())
def test_batches_in_any_order_sum_to_the_whole(rows, cut, rnd):
    data = pa.table({"id": pa.array([r[0] for r in rows], pa.int64()),
                     "t": pa.array([r[1] for r in rows], pa.string())})
    whole = _value(data) if rows else "0" * 32
    assert whole == _reference(data)
    with mock.patch.object(row_text, "LOOKUP_ROWS", 1):  # the looked-up texts, in batches this small too
        assert (_value(data) if rows else "0" * 32) == whole
    assert sum_in_halves(data, V2, cut, rnd) == (whole, len(rows))


def _auditor_script(tmp_path):
    return auditor_script(tmp_path, V2)


def test_the_documented_auditor_script_recomputes_every_type(tmp_path):
    import pyarrow.parquet as pq
    pq.write_table(SAMPLE, tmp_path / "part.parquet")
    (tmp_path / "m.json").write_text(json.dumps({"files": [{"path": "part.parquet"}],
                                                 "fingerprint": {"value": _value(SAMPLE)}}))
    assert recompute(_auditor_script(tmp_path), tmp_path, "m.json") == f"{_value(SAMPLE)} ok"


def _written_with_v2(monkeypatch):
    """New periods get v3 since 0.3.0; these units are written with v2, as 0.2.0 wrote them."""
    from archival.plan import compile as compile_module
    monkeypatch.setattr(compile_module, "ROW_WORDS", V2)


def test_the_documented_auditor_script_recomputes_an_archive(shop_project, tmp_path, monkeypatch):
    _written_with_v2(monkeypatch)
    run_units(shop_project, datetime(2026, 12, 1, tzinfo=UTC))
    assert recompute_archive(_auditor_script(tmp_path), shop_project / "archive", V2) >= 3


def test_the_auditor_script_recomputes_a_postgresql_unit_read_with_looked_up_texts(pg_dsn, tmp_path, monkeypatch):
    """A unit read from PostgreSQL in one batch of LOOKUP_ROWS rows or more: its manifest's v2 value,
    computed with looked-up texts (small integers, dates, every text's length), is the one the
    documented script computes from the archived file without archival."""
    import psycopg

    rows = row_text.LOOKUP_ROWS + 3_000
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("CREATE TABLE notes (id int PRIMARY KEY, stars smallint, day date, at timestamptz, body text)")
        con.execute(f"INSERT INTO notes SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE g % 6 END, "
                    f"date '2020-01-01' + g % 900, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', "
                    f"CASE WHEN g % 11 = 0 THEN NULL ELSE repeat('ü', g % 40) END FROM generate_series(1, {rows}) g")
    monkeypatch.setenv("APP_DSN", pg_dsn)
    spec = ("domain: app\nowner: o@example.com\nsource: pg\ntables:\n"
            "  notes: {relation: notes, primary_key: [id], mode: full}\n")
    project = write_project(tmp_path / "p", "  pg: {type: postgres, dsn: env:APP_DSN}", {"app": spec})
    _written_with_v2(monkeypatch)
    run_units(project, datetime(2026, 12, 1, tzinfo=UTC))
    archive = project / "archive"
    [manifest] = list(archive.rglob("_manifests/*/v*.json"))
    assert json.loads(manifest.read_bytes())["fingerprint"]["algorithm"] == V2
    [part] = list(archive.rglob("*.parquet"))
    import pyarrow.parquet as pq
    assert looked_up_columns(pl.from_arrow(pq.read_table(part))) == {"id", "stars", "day", "body"}
    script = _auditor_script(tmp_path)
    assert recompute(script, archive, manifest.relative_to(archive).as_posix()).endswith(" ok")


def test_the_documented_auditor_script_recomputes_the_0_2_0_golden_archive(golden_020, tmp_path):
    """Committed files written by release 0.2.0: a change of polars' text of a value breaks this."""
    assert recompute_archive(_auditor_script(tmp_path), golden_020 / "archive", V2) == 25

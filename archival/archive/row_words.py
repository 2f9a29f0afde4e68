"""Row fingerprint `sum-xxh3-words-v3`: each row as a run of 64-bit words (one per value, its text's
XXH3-64 for text), hashed with XXH3-128 seeded by the column names; the high and low 64 bits of all
row hashes summed modulo 2**64 (32 hex digits, high half first), as v1 and v2 do.

Why a third: v2 builds a text of every row, nine integer-to-text casts and a concatenation, and that
text was most of a run's fingerprint (5M rows of the bench table: 1.9 CPU-s). Numbers and temporal
values are words already, so v3 only hashes the texts, column by column, and lays each row's words
side by side: 0.6-0.7 CPU-s (docs/performance.md). Periods written with v1 or v2 keep their algorithm
until refreshed, so every archive verifies as it was written.

The words of a row (docs/archive.md has them with a script that recomputes them without archival),
little-endian, in column order, then the null words:
- integers, booleans (0/1): the value as a 64-bit two's complement integer;
- dates as days since 1970-01-01, timestamps as the count of their unit since the epoch (UTC,
  whatever the time zone; a unit of seconds counts milliseconds, as Parquet keeps it), times as
  nanoseconds since midnight, durations as the count of their unit (seconds as milliseconds);
- decimals: three words, the unscaled value's low and high 64 bits (128-bit two's complement), then
  the scale;
- floats: the IEEE-754 bits of the value as a float64, every NaN as 0x7ff8000000000000;
- text (and dictionary-encoded text): XXH3-64 (seed 0) of its UTF-8 bytes; binary: of its bytes;
- NULL: every word of the column is 0, and the column's bit is set in the null words: bit i % 64 of
  null word i // 64 for the column at position i (one null word per 64 columns, always written).

A schema with a nested column (list, struct, map) or an interval has no v3 words: such a unit's rows
are fingerprinted with v1 (row_text.unsupported names such columns)."""

from __future__ import annotations

from functools import lru_cache

import polars as pl
import polars_hash  # noqa: F401 - registers the `nchash` namespace on polars expressions
import pyarrow as pa
import pyarrow.compute as pc

from archival.archive.row_text import halves_sums, is_text, names_seed, supports, unsupported
from archival.checksums import ROW_WORDS, FingerprintAlgorithm

ALGORITHM: FingerprintAlgorithm = ROW_WORDS
__all__ = ["ALGORITHM", "row_sums", "supports", "unsupported"]

_U64 = pl.UInt64
_CANONICAL_NAN = float("nan")  # CPython's NaN: 0x7ff8000000000000


def _signed(expr: pl.Expr) -> pl.Expr:
    """A signed integer's 64-bit two's complement, as an unsigned word."""
    return expr.cast(pl.Int64).reinterpret(signed=False)


def _float_words(series: pl.Series) -> pl.Series:
    """IEEE-754 bits of each value as a float64 (float32 widens exactly), NaN made canonical. Taken in
    Arrow: polars reinterprets only 64-bit integers."""
    values = series.cast(pl.Float64).to_arrow()
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    canonical = pc.if_else(pc.is_nan(values), pa.scalar(_CANONICAL_NAN), values)
    if canonical.null_count:
        canonical = canonical.fill_null(0.0)  # its word is 0: the bits of +0.0
    words = pa.Array.from_buffers(pa.uint64(), len(canonical), [None, canonical.buffers()[1]], offset=canonical.offset)
    return pl.Series(series.name, words)


def _words(frame: pl.DataFrame, name: str, dtype: pl.DataType) -> list[pl.Expr | pl.Series]:
    """The column's words, NULL as 0 (its bit in the null words tells it from a 0)."""
    col = pl.col(name)
    if dtype == pl.Null:
        return [pl.repeat(0, frame.height, dtype=_U64)]  # a column's length even where every column is NULL
    if is_text(dtype):
        words: list[pl.Expr] = [col.cast(pl.String).nchash.xxh3_64()]
    elif isinstance(dtype, pl.Binary):
        words = [col.nchash.xxh3_64()]
    elif isinstance(dtype, pl.Boolean) or dtype.is_unsigned_integer():
        words = [col.cast(_U64)]
    elif dtype.is_signed_integer() or dtype.is_temporal():
        words = [_signed(col.to_physical())]
    elif isinstance(dtype, pl.Decimal):
        unscaled = col.to_physical()  # Int128
        words = [unscaled.cast(_U64, wrap_numerical=True), _signed(unscaled // (1 << 64)),
                 pl.when(col.is_null()).then(None).otherwise(pl.lit(dtype.scale or 0, _U64))]
    elif dtype.is_float():
        return [_float_words(frame.get_column(name))]
    else:
        raise ValueError(f"column {name}: type {dtype} has no {ALGORITHM} words")
    return [w.cast(_U64).fill_null(0) for w in words]


def _null_words(frame: pl.DataFrame) -> list[pl.Expr]:
    """Only the columns with a NULL in this batch have bits to set (a batch without any: 0.16 -> 0 CPU-s
    for 5M rows of the bench table)."""
    words = []
    for start in range(0, frame.width, 64):
        bits = [pl.col(n).is_null().cast(_U64) * pl.lit(1 << (i - start), _U64)
                for i, n in enumerate(frame.columns[start:start + 64], start) if frame.get_column(n).null_count()]
        words.append(pl.sum_horizontal(bits).cast(_U64) if bits else pl.repeat(0, frame.height, dtype=_U64))
    return words


@lru_cache(maxsize=8)
def _layout(rows: int, width: int) -> tuple[pa.Array, pa.Buffer]:
    """For a batch of `rows` rows of `width` words: the gather that lays the words column-major ->
    row-major (word c of row r is at c*rows + r), and the offsets of each row's bytes. Kept for the
    few batch sizes a run has (its full batches, each unit's last)."""
    index = pl.int_range(0, rows * width, dtype=pl.Int64, eager=True)
    order = ((index % width) * rows + index // width).to_arrow()
    offsets = pl.int_range(0, (rows + 1) * 8 * width, 8 * width, dtype=pl.Int64, eager=True).to_arrow()
    return order, offsets.buffers()[1]


# rows laid out at a time: the gather's working set stays in the CPU's caches (5M rows of four columns
# in one call: 1.81 s; in slices of this many: 0.4 s, bench/hash_candidates.py)
SLICE_ROWS = 1 << 16


def row_sums(data: pa.RecordBatch | pa.Table) -> tuple[int, int, int]:
    """(sum of the high halves, sum of the low halves, rows) of `data`'s row hashes, unreduced
    (checksums.format_value reduces them)."""
    if data.num_rows > SLICE_ROWS:
        sums = [_slice_sums(data.slice(start, SLICE_ROWS)) for start in range(0, data.num_rows, SLICE_ROWS)]
        return sum(s[0] for s in sums), sum(s[1] for s in sums), data.num_rows
    return _slice_sums(data)


def _as_days(data: pa.RecordBatch | pa.Table) -> pa.RecordBatch | pa.Table:
    """A 64-bit date (milliseconds) as a 32-bit one (days): polars would take it for a timestamp of
    milliseconds, and Parquet keeps it as days, so a file read back must give the words it was written with."""
    dates = [i for i, f in enumerate(data.schema) if pa.types.is_date64(f.type)]
    if not dates:
        return data
    columns = [c.cast(pa.date32()) if i in dates else c for i, c in enumerate(data.columns)]
    if isinstance(data, pa.RecordBatch):
        return pa.RecordBatch.from_arrays(columns, names=data.schema.names)
    return pa.Table.from_arrays(columns, names=data.schema.names)


def _slice_sums(data: pa.RecordBatch | pa.Table) -> tuple[int, int, int]:
    if data.num_rows == 0:
        return 0, 0, 0
    frame = pl.from_arrow(_as_days(data))
    assert isinstance(frame, pl.DataFrame)
    names = frame.columns
    words: list[pl.Expr | pl.Series] = [w for name, dtype in frame.schema.items() for w in _words(frame, name, dtype)]
    words += _null_words(frame)
    exprs = [w.alias(f"w{i}") for i, w in enumerate(words)]
    columns = frame.select(exprs).get_columns()
    rows, width = frame.height, len(columns)
    # one column of every word, column after column, gathered into each row's words side by side: the
    # bytes of row r are words [r*width, (r+1)*width) of the result
    stacked = pl.concat(columns, rechunk=True).to_arrow()
    order, offsets = _layout(rows, width)
    laid = pc.take(stacked, order)
    if isinstance(laid, pa.ChunkedArray):
        laid = laid.combine_chunks()
    assert laid.offset == 0 and laid.null_count == 0
    row_bytes = pa.Array.from_buffers(pa.large_binary(), rows, [None, offsets, laid.buffers()[1]])
    digests = pl.Series("bytes", row_bytes).to_frame().select(
        pl.col("bytes").nchash.xxh3_128(seed=names_seed(names)).alias("digest"))
    upper, lower = halves_sums(digests)
    return upper, lower, data.num_rows

"""Row fingerprint `sum-xxh3-text-v2`: each row as one canonical text, hashed with XXH3-128 seeded
by the column names, the high and low 64 bits of all row hashes summed modulo 2**64 (32 hex digits,
high half first), as `sum-md5-json-v1` does with MD5 of DuckDB's JSON text. Built in polars with
polars-hash (compiled, on every core): 5M rows of the bench table 2.0 s against 4.7 s for v1 on two
cores (docs/performance.md; building the text is most of it, the hash 0.2 s). Release 0.2.0 gave it
to new periods; since 0.3.0 they get `sum-xxh3-words-v3` (row_words.py), and periods written with v2
keep it until refreshed.

The row text (docs/archive.md has it with a script that recomputes it without archival), hashed
with the seed XXH3-64(name1 US name2 US ...), so a renamed column changes every row's hash:

    value1 US value2 US ...      (US = U+001F)

where NULL is the empty string and every other value is never empty:
- text (and dictionary-encoded text): `<UTF-8 byte length>:<text>`; binary: `<byte length>:<hex>`;
- booleans `true`/`false`; integers and decimals in decimal notation (a decimal keeps its scale:
  `1.50`); floats as polars prints them (`0.1`, `1e+20`, `NaN`, `inf`);
- dates as days since 1970-01-01, timestamps as the integer count of their unit since the epoch
  (UTC, whatever the time zone), times as nanoseconds since midnight, durations as their count.

A schema with a nested column (list, struct, map) or an interval has no v2 text: such a unit's rows
are fingerprinted with v1 (`unsupported` names such columns)."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import polars as pl
import polars_hash  # noqa: F401 - registers the `nchash` namespace on polars expressions
import pyarrow as pa

from archival.checksums import ROW_TEXT, FingerprintAlgorithm

ALGORITHM: FingerprintAlgorithm = ROW_TEXT
_NESTED = (pa.types.is_list, pa.types.is_large_list, pa.types.is_fixed_size_list, pa.types.is_list_view,
           pa.types.is_large_list_view, pa.types.is_struct, pa.types.is_map, pa.types.is_union,
           pa.types.is_interval)


def unsupported(schema: pa.Schema) -> list[str]:
    """The columns without a v2 text (a unit with any keeps `sum-md5-json-v1`)."""
    return [f.name for f in schema if any(test(f.type) for test in _NESTED)]


def supports(schema: pa.Schema) -> bool:
    return not unsupported(schema)


LOOKUP = 1 << 16  # texts of the integers below it, and of their length prefixes, are looked up
LOOKUP_ROWS = 1 << 14  # in batches of at least this many rows: below it the check costs more than it saves


class LookupTexts(NamedTuple):
    numbers: pl.Series  # "0", "1", .. the text of each integer below LOOKUP
    prefixes: pl.Series  # "0:", "1:", .. the length prefix of a text of that many bytes


@lru_cache(maxsize=1)
def _lookup_texts() -> LookupTexts:
    """Built once: a gather from them is about a tenth of an integer-to-text cast per value, and nine
    casts were a third of the v2 text (docs/performance.md)."""
    return LookupTexts(pl.Series("numbers", [str(n) for n in range(LOOKUP)], pl.String),
                       pl.Series("prefixes", [f"{n}:" for n in range(LOOKUP)], pl.String))


def is_text(dtype: pl.DataType) -> bool:
    return isinstance(dtype, (pl.String, pl.Categorical, pl.Enum))


def _is_counted(dtype: pl.DataType) -> bool:
    """Written as the decimal text of an integer (a temporal value's count of its unit: polars keeps
    every temporal type as an integer)."""
    return dtype.is_integer() or dtype.is_temporal()


def _value_text(name: str, dtype: pl.DataType, looked_up: bool = False) -> pl.Expr:
    """`looked_up`: every value of the batch (a text's byte length, or an integer) is in 0..LOOKUP-1,
    so its text comes from _lookup_texts; the same text as the cast gives."""
    col = pl.col(name)
    if dtype == pl.Null:
        return pl.lit("", pl.String)
    if is_text(dtype):
        text = col.cast(pl.String)
        if looked_up:
            return pl.concat_str([pl.lit(_lookup_texts().prefixes).gather(text.str.len_bytes()), text])
        return pl.concat_str([text.str.len_bytes().cast(pl.String), pl.lit(":"), text])
    if isinstance(dtype, pl.Binary):
        return pl.concat_str([col.bin.size().cast(pl.String), pl.lit(":"), col.bin.encode("hex")])
    if looked_up and _is_counted(dtype):
        return pl.lit(_lookup_texts().numbers).gather(col.to_physical())
    if dtype.is_temporal():
        return col.to_physical().cast(pl.String)
    if dtype.is_numeric() or isinstance(dtype, pl.Boolean):
        return col.cast(pl.String)
    raise ValueError(f"column {name}: type {dtype} has no {ALGORITHM} text")


def looked_up_columns(frame: pl.DataFrame) -> frozenset[str]:
    """The columns of `frame` whose texts _value_text may look up: every length or integer of the batch
    in 0..LOOKUP-1 (NULLs look up NULL, as the cast gives)."""
    checks = []
    for name, dtype in frame.schema.items():
        if is_text(dtype):
            checks.append((pl.col(name).cast(pl.String).str.len_bytes().max() < LOOKUP).fill_null(True).alias(name))
        elif _is_counted(dtype):
            physical = pl.col(name).to_physical()
            checks.append(((physical.min() >= 0) & (physical.max() < LOOKUP)).fill_null(True).alias(name))
    if not checks:
        return frozenset()
    return frozenset(name for name, fits in frame.select(checks).row(0, named=True).items() if fits)


def names_seed(names: list[str]) -> int:
    """XXH3-64 of the column names joined by U+001F: the seed of every row's hash (the names bind the
    values without being repeated in each row's text, which cost a fifth of the time)."""
    return int(pl.select(pl.lit("\x1f".join(names)).nchash.xxh3_64()).item())


@lru_cache(maxsize=256)
def _digest_expr(schema: tuple[tuple[str, pl.DataType], ...], looked_up: frozenset[str] = frozenset()) -> pl.Expr:
    values = [_value_text(name, dtype, name in looked_up).fill_null("") for name, dtype in schema]
    text = pl.concat_str(values, separator="\x1f")
    return text.nchash.xxh3_128(seed=names_seed([name for name, _ in schema])).alias("digest")  # as UInt128


# the digest's high and low 64 bits, taken from it as an integer: the same halves as slicing its 16
# bytes, at a fifth of the CPU (5M rows: 0.03 against 0.16-0.18 CPU-s, docs/performance.md)
_DIGEST = pl.col("digest")
_HALVES = [(_DIGEST // (1 << 64)).sum().alias("upper"),
           _DIGEST.cast(pl.UInt64, wrap_numerical=True).cast(pl.UInt128).sum().alias("lower")]


def halves_sums(digests: pl.DataFrame) -> tuple[int, int]:
    """The sums of the high and of the low 64 bits of the XXH3-128 row hashes in the `digest` column
    (v2 and v3 sum them alike)."""
    upper, lower = digests.select(_HALVES).row(0)
    return int(upper), int(lower)


def row_sums(data: pa.RecordBatch | pa.Table) -> tuple[int, int, int]:
    """(sum of the high halves, sum of the low halves, rows) of `data`'s row hashes, unreduced (summed
    as u128 in polars: no wrap-around there; format_value reduces them)."""
    if data.num_rows == 0:
        return 0, 0, 0
    frame = pl.from_arrow(data)
    assert isinstance(frame, pl.DataFrame)
    schema = tuple((name, dtype) for name, dtype in frame.schema.items())
    # two steps: in one eager select each half would hash every row again
    looked_up = looked_up_columns(frame) if frame.height >= LOOKUP_ROWS else frozenset()
    upper, lower = halves_sums(frame.select(_digest_expr(schema, looked_up)))
    return upper, lower, data.num_rows

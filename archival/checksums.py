"""The archive's two order-independent checksums, as SQL that DuckDB can run anywhere: over Arrow
batches while exporting, over Parquet/CSV when verifying, over the source when reconciling or
planning. Both sum hashes (not XOR) so duplicates stay visible, and both use MD5, which is stable
across DuckDB versions, so an archive can be re-checked years later without archival.

- Row fingerprint `sum-md5-json-v1`: each row as DuckDB's JSON text of the row (column names, typed
  values, NULL as null), MD5; the upper and lower 64 bits of all row hashes are summed modulo 2**64.
- Key checksum `sum-md5-key-v1`: the sum of the low 64 bits of the MD5 of each key's text (its
  columns joined by U+001F), modulo 2**64: which keys a window period holds.

Below every stage: it imports nothing of archival."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

# the row fingerprints a manifest may name; v2 and v3 are computed in archive/row_text.py and row_words.py
FingerprintAlgorithm = Literal["sum-md5-json-v1", "sum-xxh3-text-v2", "sum-xxh3-words-v3"]
ALGORITHM: FingerprintAlgorithm = "sum-md5-json-v1"
ROW_TEXT: FingerprintAlgorithm = "sum-xxh3-text-v2"  # archive/row_text.py computes it (polars)
ROW_WORDS: FingerprintAlgorithm = "sum-xxh3-words-v3"  # archive/row_words.py computes it; new periods get it
KEY_ALGORITHM = "sum-md5-key-v1"
_MOD = 1 << 64
# md5_number_upper(j) is the low 64 bits of md5_number(j) and md5_number_lower(j) the high ones
# (DuckDB reads the digest little-endian); splitting one md5_number gives both halves of the same
# algorithm for one MD5 instead of two (5M rows: 4.2 s -> 3.0 s on 2 threads).
_LOW64 = "18446744073709551615::UHUGEINT"


def fingerprint_sql(relation: str, alias: str = "r") -> str:
    """SELECT upper_sum, lower_sum, row_count over `relation` (a table name or a subquery in parens)."""
    return (f"SELECT coalesce(sum((h & {_LOW64})::UBIGINT), 0)::HUGEINT, coalesce(sum((h >> 64)::UBIGINT), 0)::HUGEINT,"
            f" count(*) FROM (SELECT md5_number(to_json({alias})::VARCHAR) AS h FROM {relation} {alias})")


def format_value(upper: int, lower: int) -> str:
    return f"{int(upper) % _MOD:016x}{int(lower) % _MOD:016x}"


def combine(*values: str) -> str:
    """The fingerprint of the union of row sets: sums are additive, so a period that gains a part
    gains its fingerprint without re-reading the old files."""
    upper = sum(int(v[:16], 16) for v in values)
    lower = sum(int(v[16:], 16) for v in values)
    return format_value(upper, lower)


def key_text_sql(columns: list[str], quote: Callable[[str], str]) -> str:
    """The text of a primary key (its columns joined by U+001F): the input of the key checksum."""
    parts = [f"CAST({quote(c)} AS VARCHAR)" for c in columns]
    return parts[0] if len(parts) == 1 else f"concat_ws(chr(31), {', '.join(parts)})"


def key_checksum_sql(columns: list[str], quote: Callable[[str], str], where: str | None = None) -> str:
    """Aggregate: the key checksum of the rows (matching `where`)."""
    filtered = f" FILTER (WHERE {where})" if where else ""
    return f"coalesce(sum(md5_number_lower({key_text_sql(columns, quote)})){filtered}, 0)::HUGEINT"


def format_key_checksum(value: int) -> str:
    return f"{int(value) % _MOD:016x}"

"""What the tests of the v2 and v3 row fingerprints share: a row of every type they hash (with NULLs,
edges and a dictionary column), and the check that batches sum to the whole in any order."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pyarrow as pa

from archival.archive.fingerprint import RowFingerprint, combine
from archival.checksums import FingerprintAlgorithm

SAMPLE = pa.table({
    "id": pa.array([1, 2, 3, -4], pa.int64()),
    "title": pa.array(["plain", "ünï\x1fcode ✓", "", None], pa.string()),
    "amount": pa.array([Decimal("1.50"), Decimal("-0.05"), None, Decimal("12345678901234.00")], pa.decimal128(16, 2)),
    "ratio": pa.array([0.25, 1e20, -2.0, None], pa.float64()),
    "vip": pa.array([True, False, None, True]),
    "day": pa.array([dt.date(2024, 2, 29), None, dt.date(1969, 12, 31), dt.date(2026, 11, 26)]),
    "at": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC), None,
                    dt.datetime(1960, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 11, 26, 23, 59, 59, tzinfo=dt.UTC)],
                   pa.timestamp("us", tz="UTC")),
    "naive": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5), None, None, dt.datetime(2000, 1, 1)], pa.timestamp("us")),
    "clock": pa.array([dt.time(12, 34, 56, 789000), None, dt.time(0, 0), dt.time(23, 59, 59)], pa.time64("us")),
    "blob": pa.array([b"\x00\x01", b"", None, b"\xff"], pa.binary()),
    "status": pa.array(["open", "closed", "open", None]).dictionary_encode(),
})


def sum_in_halves(data: pa.Table, algorithm: FingerprintAlgorithm, cut: int, rnd: random.Random) -> tuple[str, int]:
    """`data` cut into batches of `cut` rows, shuffled, dealt to two accumulators and combined: (value,
    rows), which must be the whole's."""
    batches = data.to_batches(max_chunksize=cut)
    rnd.shuffle(batches)
    halves = [RowFingerprint(algorithm=algorithm) for _ in range(2)]
    for i, batch in enumerate(batches):
        halves[i % 2].add(batch)
    return combine(*(h.value for h in halves)), sum(h.rows for h in halves)

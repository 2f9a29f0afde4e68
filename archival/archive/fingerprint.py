"""Accumulators of the archive's checksums over streamed Arrow batches: the row fingerprint of what a
unit writes (`sum-md5-json-v1` in DuckDB, archival/checksums.py; `sum-xxh3-text-v2` and
`sum-xxh3-words-v3` in polars, archive/row_text.py and row_words.py), and the key checksum of a window
period's live keys."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from archival.archive import row_text, row_words
from archival.checksums import (
    ALGORITHM,
    KEY_ALGORITHM,
    FingerprintAlgorithm,
    combine,
    fingerprint_sql,
    format_key_checksum,
    format_value,
    key_checksum_sql,
)
from archival.chunks import arrow_chunks
from archival.source.duck import local_connection
from archival.sql import quote_ident

__all__ = ["ALGORITHM", "ALGORITHMS", "KEY_ALGORITHM", "V2", "V3", "FingerprintUnavailable", "KeyChecksum",
           "RowFingerprint", "combine", "fingerprint_of", "format_value"]

V2 = row_text.ALGORITHM
V3 = row_words.ALGORITHM
ALGORITHMS = (ALGORITHM, V2, V3)  # what this release computes, and so verifies
# the algorithms computed in polars, batch by batch, by their module's row_sums
_ROW_SUMS = {V2: row_text, V3: row_words}


class FingerprintUnavailable(Exception):
    """Rows that the period's fingerprint algorithm cannot hash: nothing of the unit is published."""


_SCRATCH = threading.local()


def scratch_connection(threads: int) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB of this thread's, with `threads` threads, made once and kept: a new instance
    per unit cost about 20 ms of a small unit's 110 (the accumulators only register, query and
    unregister one batch at a time, so units of one thread can share it one after another)."""
    found = getattr(_SCRATCH, "connections", None)
    if found is None:
        found = _SCRATCH.connections = {}
    if threads not in found:
        con = local_connection()
        con.execute(f"SET threads = {threads}")
        found[threads] = con
    return found[threads]


@dataclass
class RowFingerprint:
    """Accumulates a fingerprint batch by batch (v1 on DuckDB's threads, v2 and v3 on polars' pool).

    As a unit's `fingerprint` stage with `background`, v2 and v3 hash on a thread of its own while the
    unit reads and checks the next batches: the sums commute, so the order batches are added in does
    not matter, and at most IN_FLIGHT batches are with the worker (memory stays bounded). On two cores a 5M-row run
    took about 1 s less (docs/performance.md). `value` and `rows` are final once `finish` returned."""

    IN_FLIGHT = 2

    upper: int = 0
    lower: int = 0
    rows: int = 0
    threads: int = 2
    algorithm: FingerprintAlgorithm = ALGORITHM
    background: bool = False
    _worker: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    _pending: deque[Future] = field(default_factory=deque, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"unknown fingerprint algorithm {self.algorithm}")
        self._con = scratch_connection(int(self.threads)) if self.algorithm == ALGORITHM else None
        self.background = self.background and self._con is None  # v1's DuckDB belongs to this thread

    @classmethod
    def for_rows(cls, schema: pa.Schema, algorithm: FingerprintAlgorithm, *, kept: bool, what: str,
                 threads: int = 2, background: bool = False) -> RowFingerprint:
        """The plan's algorithm for rows of `schema`. v2 and v3 have no text or words for nested or
        interval columns: a unit free to choose (`kept` False) takes v1 then; one that must extend a v2
        or v3 period cannot (FingerprintUnavailable, naming the columns and the way out)."""
        odd = row_text.unsupported(schema)
        if algorithm in _ROW_SUMS and odd:
            if kept:
                raise FingerprintUnavailable(
                    f"{what}: the period's rows are fingerprinted with {algorithm}, which cannot hash column(s) "
                    f"{', '.join(odd)} (nested or interval); `archival run --refresh` rewrites the period with "
                    f"{ALGORITHM}")
            algorithm = ALGORITHM
        return cls(threads=threads, algorithm=algorithm, background=background)

    def add(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        if self._con is None:
            upper, lower, rows = _ROW_SUMS[self.algorithm].row_sums(batch)
        else:
            self._con.register("fp_batch", arrow_chunks(batch))
            upper, lower, rows = self._con.execute(fingerprint_sql("fp_batch")).fetchone()
            self._con.unregister("fp_batch")
        self.upper, self.lower, self.rows = self.upper + upper, self.lower + lower, self.rows + rows

    @property
    def value(self) -> str:
        if self._pending:
            raise RuntimeError("the fingerprint was read while batches were still being added")
        return format_value(self.upper, self.lower)

    name = "fingerprint"  # as the `fingerprint` stage of a unit's stream

    def feed(self, batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
        if not self.background:
            self.add(batch)
            yield batch
            return
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="archival-fingerprint")
        self._pending.append(self._worker.submit(self.add, batch))
        while len(self._pending) > self.IN_FLIGHT:
            self._pending.popleft().result()  # the worker's error, if any, fails the unit here
        yield batch

    def finish(self) -> Iterator[pa.RecordBatch]:
        while self._pending:
            self._pending.popleft().result()
        return iter(())

    def close(self) -> None:
        """Stops the worker (a failed unit's batches still waiting are dropped with it); the DuckDB
        connection stays with its thread for the next unit (scratch_connection)."""
        if self._worker is not None:
            self._worker.shutdown(wait=True, cancel_futures=True)
            self._worker = None
        self._pending.clear()


def fingerprint_of(con: duckdb.DuckDBPyConnection, relation: str, algorithm: FingerprintAlgorithm = ALGORITHM,
                   batch_rows: int = 65_536) -> tuple[str, int]:
    """The fingerprint of `relation`'s rows (v2 and v3 stream them out of DuckDB in batches: flat memory)."""
    if algorithm in _ROW_SUMS:
        total = RowFingerprint(algorithm=algorithm)
        for batch in con.execute(f"SELECT * FROM {relation}").to_arrow_reader(batch_rows):
            total.add(batch)
        return total.value, total.rows
    if algorithm != ALGORITHM:
        raise ValueError(f"unknown fingerprint algorithm {algorithm}")
    upper, lower, rows = con.execute(fingerprint_sql(relation)).fetchone()
    return format_value(upper, lower), int(rows)


@dataclass
class KeyChecksum:
    """Accumulates the key checksum of streamed rows (window mode: the live keys of the period)."""

    total: int = 0

    def __post_init__(self) -> None:
        self._con = scratch_connection(1)

    def add(self, batch: pa.RecordBatch, columns: list[str]) -> None:
        if batch.num_rows == 0:
            return
        self._con.register("key_batch", batch)
        self.total += int(self._con.execute(f"SELECT {key_checksum_sql(columns, quote_ident)} FROM key_batch"
                                            ).fetchone()[0])
        self._con.unregister("key_batch")

    @property
    def value(self) -> str:
        return format_key_checksum(self.total)

    def close(self) -> None:
        """The connection stays with its thread for the next unit (scratch_connection)."""

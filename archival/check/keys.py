"""The primary key identifies a row, so every table's key is checked whether or not the spec says
`unique`: no NULL in a key column (the contract's `not_nullable`) and no key twice (here).

Rows arrive ordered by the key, so equal keys are neighbours and the check needs no memory beyond
one batch. Every row of a duplicated key is invalid, the first one too: none of them can be told
apart by its key, and which one a source returns first is not defined, so keeping "the first" would
make the archive depend on the source's row order. A run of equal keys may straddle batches, so each
batch is released one batch late, when the next batch's first key (or the end) settles its last row;
each batch is released whole, so the contract judges it in one call."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc


class KeyRuns:
    def __init__(self, key: tuple[str, ...]):
        self.key = key
        self.duplicates = 0  # rows found to share their key with another row
        self._pending: pa.RecordBatch | None = None
        self._previous_last: tuple | None = None  # key of the last row released

    @property
    def reason(self) -> str:
        return f"{', '.join(self.key)}: unique"

    def _key_at(self, batch: pa.RecordBatch, row: int) -> tuple | None:
        values = tuple(batch.column(batch.schema.get_field_index(k))[row].as_py() for k in self.key)
        return None if any(v is None for v in values) else values  # NULL never equals

    def _equal_to_previous(self, batch: pa.RecordBatch) -> pa.Array:
        """Per row: does its key equal the row before's (the first row: the last row released)."""
        same = None
        for name in self.key:
            values = batch.column(batch.schema.get_field_index(name))
            equal = pc.fill_null(pc.equal(values.slice(1), values.slice(0, len(values) - 1)), False)
            same = equal if same is None else pc.and_(same, equal)
        first = self._previous_last is not None and self._key_at(batch, 0) == self._previous_last
        return pa.concat_arrays([pa.array([first]), *([same] if same is not None else [])])

    def _release(self, batch: pa.RecordBatch, next_first: tuple | None) -> tuple[pa.RecordBatch, pa.Array]:
        follows = self._equal_to_previous(batch)
        last_continues = next_first is not None and self._key_at(batch, batch.num_rows - 1) == next_first
        followed = pa.concat_arrays([follows.slice(1), pa.array([last_continues])])
        mask = pc.or_(follows, followed)
        self.duplicates += pc.sum(mask).as_py() or 0
        self._previous_last = self._key_at(batch, batch.num_rows - 1)
        return batch, mask

    def feed(self, batch: pa.RecordBatch) -> Iterator[tuple[pa.RecordBatch, pa.Array]]:
        """The previous batch, now that this one's first key settles its last row."""
        if batch.num_rows == 0:
            return
        if self._pending is not None:
            yield self._release(self._pending, self._key_at(batch, 0))
        self._pending = batch

    def finish(self) -> Iterator[tuple[pa.RecordBatch, pa.Array]]:
        pending, self._pending = self._pending, None
        if pending is not None:
            yield self._release(pending, None)

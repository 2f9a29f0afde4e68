"""The primary key identifies a row, so every table's key is checked whether or not the spec says
`unique`: no NULL in a key column (the contract's `not_nullable`) and no key twice (here).

Rows arrive ordered by the key, so equal keys are neighbours and the check needs no memory beyond
one run of equal keys. Every row of a duplicated key is invalid, the first one too: none of them
can be told apart by its key, and which one a source returns first is not defined, so keeping "the
first" would make the archive depend on the source's row order. To see a run that straddles two
batches, the rows of each batch's last key are held back until the next batch (or the end) shows
whether the run goes on."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc


class KeyRuns:
    def __init__(self, key: tuple[str, ...]):
        self.key = key
        self.duplicates = 0  # rows found to share their key with another row
        self._held: pa.RecordBatch | None = None

    @property
    def reason(self) -> str:
        return f"{', '.join(self.key)}: unique"

    def _equal_to_previous(self, batch: pa.RecordBatch) -> pa.Array:
        """Per row: does its key equal the row before's (False for the first row; NULL never equals)."""
        if batch.num_rows < 2:
            return pa.array([False] * batch.num_rows)
        same = None
        for name in self.key:
            values = batch.column(batch.schema.get_field_index(name))
            equal = pc.fill_null(pc.equal(values.slice(1), values.slice(0, len(values) - 1)), False)
            same = equal if same is None else pc.and_(same, equal)
        return pa.concat_arrays([pa.array([False]), same])

    def feed(self, batch: pa.RecordBatch) -> Iterator[tuple[pa.RecordBatch, pa.Array]]:
        """Rows whose verdict is settled, each with a mask of the duplicated ones."""
        if self._held is not None and self._held.num_rows:
            batch = pa.Table.from_batches([self._held, batch]).combine_chunks().to_batches()[0] \
                if batch.num_rows else self._held
        self._held = None
        if batch.num_rows == 0:
            return
        follows = self._equal_to_previous(batch)
        starts = pc.indices_nonzero(pc.invert(follows)).to_pylist()
        last_run = starts[-1] if starts else 0
        self._held = batch.slice(last_run)
        released = batch.slice(0, last_run)
        if released.num_rows:
            yield released, self._mask(follows, last_run)

    def finish(self) -> Iterator[tuple[pa.RecordBatch, pa.Array]]:
        """The rows still held back: one run of equal keys, duplicated if it has more than one row."""
        held, self._held = self._held, None
        if held is not None and held.num_rows:
            duplicated = held.num_rows > 1
            self.duplicates += held.num_rows if duplicated else 0
            yield held, pa.array([duplicated] * held.num_rows)

    def _mask(self, follows: pa.Array, length: int) -> pa.Array:
        """Rows [0, length) that equal their previous or their next row."""
        prev = follows.slice(0, length)
        nxt = follows.slice(1, length)  # follows[length] exists: the held run starts there
        mask = pc.or_(prev, nxt)
        self.duplicates += pc.sum(mask).as_py() or 0
        return mask

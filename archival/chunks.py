"""Arrow batches cut into zero-copy slices: DuckDB parallelises a scan of an Arrow table per record
batch, so slices this small give every thread of a query work (hashing, fingerprints, PII)."""

from __future__ import annotations

import pyarrow as pa

ARROW_CHUNK_ROWS = 8192


def arrow_chunks(batch: pa.RecordBatch) -> pa.Table:
    """The batch as a table of zero-copy slices, for a DuckDB query over it to use all its threads."""
    return pa.Table.from_batches([batch.slice(i, ARROW_CHUNK_ROWS) for i in range(0, batch.num_rows, ARROW_CHUNK_ROWS)],
                                 schema=batch.schema)

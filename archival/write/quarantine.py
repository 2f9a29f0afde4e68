"""Rows the contract sets aside (`on_invalid: quarantine`): written with their reasons to the
period's quarantine parts, with the PII rules applied first, as for archived rows."""

from __future__ import annotations

import pyarrow as pa

from archival.write.parts import PartWriter
from archival.write.pii import PiiTransform


def quarantine_schema(pii: PiiTransform) -> pa.Schema:
    return pa.schema([*pii.schema, pa.field("_reasons", pa.string())])


class QuarantineSink:
    def __init__(self, writer: PartWriter, pii: PiiTransform):
        self.writer, self.pii = writer, pii

    def __call__(self, bad: pa.Table) -> None:
        """`bad`: the rows plus a `_reasons` column."""
        reasons = bad.column("_reasons")
        rows = pa.Table.from_arrays(bad.columns[:-1], names=bad.column_names[:-1])
        for batch in rows.to_batches():
            safe = self.pii.apply(batch)
            self.writer.write(pa.RecordBatch.from_arrays(
                [*safe.columns, reasons.slice(0, safe.num_rows).combine_chunks()], schema=self.writer.schema))
            reasons = reasons.slice(safe.num_rows)

"""The `read` stage: what the unit read from its snapshot, before anything filters it: the row count
(which must equal the snapshot's own count), the largest cursor value, and for a window period the
checksum of its keys (the plan compares it with the source's next time: late rows, deletes)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from archival.archive.fingerprint import KeyChecksum
from archival.spec.model import Table


class RowsRead:
    name = "read"

    def __init__(self, table: Table, key_checksum: bool):
        self.table = table
        self.rows = 0
        self.max_cursor: datetime | None = None
        self.keys = KeyChecksum() if key_checksum else None

    def feed(self, batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
        self.rows += batch.num_rows
        if self.keys is not None:
            self.keys.add(batch, list(self.table.primary_key))
        top = max_cursor(batch, self.table)
        if top is not None and (self.max_cursor is None or top > self.max_cursor):
            self.max_cursor = top
        yield batch

    def finish(self) -> Iterator[pa.RecordBatch]:
        return iter(())

    @property
    def key_checksum(self) -> str | None:
        return self.keys.value if self.keys is not None else None

    def close(self) -> None:
        if self.keys is not None:
            self.keys.close()


def max_cursor(batch: pa.RecordBatch, table: Table) -> datetime | None:
    """The batch's largest cursor value (the first non-NULL of the cursor columns), in UTC."""
    if not table.cursor or batch.num_rows == 0:
        return None
    values = [batch.column(batch.schema.get_field_index(c)) for c in table.cursor]
    top = pc.max(pc.coalesce(*values) if len(values) > 1 else values[0]).as_py()
    if top is None:
        return None
    if isinstance(top, datetime):
        return (top if top.tzinfo else top.replace(tzinfo=ZoneInfo(table.timezone))).astimezone(UTC)
    return datetime(top.year, top.month, top.day, tzinfo=ZoneInfo(table.timezone)).astimezone(UTC)

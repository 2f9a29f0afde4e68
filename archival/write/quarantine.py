"""Rows the contract sets aside (`on_invalid: quarantine`): written with their reasons to the
period's quarantine parts, with the PII rules applied first, as for archived rows."""

from __future__ import annotations

import pyarrow as pa

from archival.archive.read import ArchivedFile, rows_sql
from archival.source.duck import local_connection
from archival.sql import quote_ident
from archival.write.parts import PartWriter
from archival.write.pii import PiiTransform


def quarantine_schema(pii: PiiTransform) -> pa.Schema:
    return pa.schema([*pii.schema, pa.field("_reasons", pa.string())])


def _row_hash(columns: list[str]) -> str:
    return f"md5(to_json(struct_pack({', '.join(f'{quote_ident(c)} := {quote_ident(c)}' for c in columns)})))"


class SetAsideBefore:
    """The rows (without their reasons) a period's current quarantine holds: a refresh re-reads them
    and must not set the same rows aside twice; a row the app has fixed since is valid and archived."""

    def __init__(self, files: list[ArchivedFile], columns: list[str]):
        self.columns = columns
        self.con = local_connection()
        rows = rows_sql(files, con=self.con)
        held = {d[0] for d in self.con.execute(f"SELECT * FROM ({rows}) LIMIT 0").description}
        if set(columns) <= held:
            self.con.execute(f"CREATE TABLE known AS SELECT DISTINCT {_row_hash(columns)} AS h FROM ({rows})")
        else:  # set aside under other columns (drift): no row can be the same
            self.con.execute("CREATE TABLE known (h VARCHAR)")
        self.skipped = 0

    def unseen(self, rows: pa.RecordBatch) -> pa.RecordBatch:
        self.con.register("bad_rows", rows)
        out = self.con.execute(f"SELECT * FROM bad_rows WHERE {_row_hash(self.columns)} NOT IN "
                               "(SELECT h FROM known)").to_arrow_table()
        self.con.unregister("bad_rows")
        self.skipped += rows.num_rows - out.num_rows
        return out.cast(rows.schema).combine_chunks().to_batches()[0] if out.num_rows else rows.slice(0, 0)

    def close(self) -> None:
        self.con.close()


class QuarantineSink:
    def __init__(self, writer: PartWriter, pii: PiiTransform, before: SetAsideBefore | None = None):
        self.writer, self.pii, self.before = writer, pii, before

    def __call__(self, bad: pa.Table) -> None:
        """`bad`: the rows plus a `_reasons` column."""
        reasons = bad.column("_reasons")
        rows = pa.Table.from_arrays(bad.columns[:-1], names=bad.column_names[:-1])
        for batch in rows.to_batches():
            safe = self.pii.apply(batch)
            marked = pa.RecordBatch.from_arrays([*safe.columns, reasons.slice(0, safe.num_rows).combine_chunks()],
                                                schema=self.writer.schema)
            reasons = reasons.slice(safe.num_rows)
            if self.before is not None:
                marked = self.before.unseen(marked)
            if marked.num_rows:
                self.writer.write(marked)

    @property
    def skipped(self) -> int:
        return self.before.skipped if self.before is not None else 0

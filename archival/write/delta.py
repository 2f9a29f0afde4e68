"""The `versions` stage: what is new in a period that is already archived. The archive keeps every
row version it saw, each (primary key, cursor value) exactly once: rows whose version the period
already holds (in its files, or set aside in its quarantine) are dropped from the stream, the rest
become a new part appended by the next manifest version. For window mode (an immutable cursor) the
stage also remembers the source's keys, so `departures` can tombstone keys that left the source."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from archival.archive.read import ArchivedFile, rows_sql
from archival.source.cursor import cursor_expr
from archival.source.duck import local_connection
from archival.spec.model import Table
from archival.sql import quote_ident


class VersionFilter:
    name = "versions"

    def __init__(self, table: Table, data: list[ArchivedFile], quarantined: list[ArchivedFile],
                 tombstones: list[ArchivedFile], since: object | None, threads: int = 2):
        """`data`, `quarantined`, `tombstones`: the period's current files; `since`: only versions with a
        cursor at or after it can be re-read (incremental lookback), so only those are loaded."""
        self.table = table
        self.keys = [quote_ident(k) for k in table.primary_key]
        self.cursor = cursor_expr(table.cursor, quote_ident)
        self.con = local_connection()
        self.con.execute(f"SET threads = {int(threads)}")
        self.con.execute("SET preserve_insertion_order = true")
        keys = ", ".join(self.keys)
        columns = [*table.primary_key, *table.cursor]
        seen = data + quarantined
        if seen:
            where = f" WHERE {self.cursor} >= ?" if since is not None else ""
            read = rows_sql(seen, columns, con=self.con)
            self.con.execute(f"CREATE TABLE seen AS SELECT {keys}, {self.cursor} AS __cursor FROM ({read}){where}",
                             [since] if since is not None else [])
        else:
            self.con.execute("CREATE TABLE seen (__none INTEGER)")
        if data:
            self.con.execute(f"CREATE TABLE archived_keys AS SELECT DISTINCT {keys} "
                             f"FROM ({rows_sql(data, list(table.primary_key), con=self.con)})")
        if tombstones:
            self.con.execute(f"CREATE TABLE dead AS SELECT {keys} FROM ({rows_sql(tombstones, con=self.con)})")
        self.has_seen, self.has_archive, self.has_dead = bool(seen), bool(data), bool(tombstones)
        self._source_keys: list[pa.Table] = []

    def feed(self, batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
        yield self.new_versions(batch)

    def finish(self) -> Iterator[pa.RecordBatch]:
        return iter(())

    def new_versions(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self._source_keys.append(pa.Table.from_batches([batch]).select(list(self.table.primary_key)))
        if not self.has_seen or batch.num_rows == 0:
            return batch
        on = " AND ".join(f"s.{k} = b.{k}" for k in self.keys)
        self.con.register("delta_batch", batch)
        batch_cursor = cursor_expr(self.table.cursor, lambda n: f"b.{quote_ident(n)}")
        sql = (f"SELECT b.* FROM delta_batch b ANTI JOIN seen s ON {on} AND s.__cursor IS NOT DISTINCT FROM "
               f"{batch_cursor} ORDER BY {', '.join('b.' + k for k in self.keys)}")
        out = self.con.execute(sql).to_arrow_table()
        self.con.unregister("delta_batch")
        return out.cast(batch.schema).combine_chunks().to_batches()[0] if out.num_rows else batch.slice(0, 0)

    def departed_keys(self) -> pa.Table | None:
        """Archived live keys of the period that the source no longer holds (window mode)."""
        if not self.has_archive:
            return None
        keys = ", ".join(self.keys)
        source_keys = pa.concat_tables(self._source_keys) if self._source_keys else None
        if source_keys is not None:
            self.con.register("source_keys", source_keys)
            gone = f"SELECT {keys} FROM archived_keys ANTI JOIN source_keys USING ({keys})"
        else:
            gone = f"SELECT {keys} FROM archived_keys"
        if self.has_dead:
            gone = f"SELECT {keys} FROM ({gone}) ANTI JOIN dead USING ({keys})"
        return self.con.execute(f"{gone} ORDER BY {keys}").to_arrow_table()

    def close(self) -> None:
        self.con.close()

"""What is new in a period that is already archived. The archive keeps every row version it saw,
each (primary key, cursor value) exactly once: rows whose version is already in the period's files
are dropped from the stream, the rest become a new part appended by the next manifest version. For
window mode (an immutable cursor) keys that left the source are found too and recorded as
tombstones, so the archive shows the delete without losing the row's history."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import duckdb
import pyarrow as pa

from archival.source.cursor import cursor_expr
from archival.spec.model import Table
from archival.sql import quote_ident, sql_literal


def _list(paths: list[Path]) -> str:
    return "[" + ", ".join(sql_literal(str(p)) for p in paths) + "]"


class VersionFilter:
    def __init__(self, table: Table, archived_files: list[Path], archived_tombstones: list[Path],
                 since: object | None, threads: int = 2):
        """`archived_files`: local paths of the period's current files; `since`: only versions with a
        cursor at or after it can be re-read (incremental lookback), so only those are loaded."""
        self.table = table
        self.keys = [quote_ident(k) for k in table.primary_key]
        self.cursor = cursor_expr(table.cursor, quote_ident)
        self.con = duckdb.connect()
        self.con.execute(f"SET threads = {int(threads)}")
        self.con.execute("SET preserve_insertion_order = true")
        keys = ", ".join(self.keys)
        if archived_files:
            source = f"read_parquet({_list(archived_files)}, hive_partitioning=false, union_by_name=true)"
            where = f" WHERE {self.cursor} >= ?" if since is not None else ""
            self.con.execute(f"CREATE TABLE seen AS SELECT {keys}, {self.cursor} AS __cursor FROM {source}{where}",
                             [since] if since is not None else [])
            self.con.execute(f"CREATE TABLE archived_keys AS SELECT DISTINCT {keys} FROM {source}")
        else:
            self.con.execute("CREATE TABLE seen (__none INTEGER)")
            self.con.execute("CREATE TABLE archived_keys (__none INTEGER)")
        if archived_tombstones:
            self.con.execute(f"CREATE TABLE dead AS SELECT {keys} FROM read_parquet({_list(archived_tombstones)})")
        self.has_archive = bool(archived_files)
        self.has_dead = bool(archived_tombstones)
        self._source_keys: list[pa.Table] = []
        self.read = 0
        self.new = 0

    def new_versions(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.read += batch.num_rows
        self._source_keys.append(pa.Table.from_batches([batch]).select(list(self.table.primary_key)))
        if not self.has_archive or batch.num_rows == 0:
            self.new += batch.num_rows
            return batch
        on = " AND ".join(f"s.{k} = b.{k}" for k in self.keys)
        self.con.register("delta_batch", batch)
        batch_cursor = cursor_expr(self.table.cursor, lambda n: f"b.{quote_ident(n)}")
        sql = (f"SELECT b.* FROM delta_batch b ANTI JOIN seen s ON {on} AND s.__cursor IS NOT DISTINCT FROM "
               f"{batch_cursor} ORDER BY {', '.join('b.' + k for k in self.keys)}")
        out = self.con.execute(sql).to_arrow_table()
        self.con.unregister("delta_batch")
        self.new += out.num_rows
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


def local_paths(stack: ExitStack, store, paths: list[str]) -> list[Path]:
    return [stack.enter_context(store.local_copy(p)) for p in paths]

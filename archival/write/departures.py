"""Hard deletes in incremental tables: keys the archive holds (latest versions, not yet tombstoned)
that the source no longer has. A key moves between periods as it is updated, so the comparison is
over the whole table. A cheap count first: only when the source's row count differs from the
archive's live keys are all source keys read and compared."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

from archival.source.duck import quote_ident, sql_literal


def departed_keys(key: tuple[str, ...], archived_files: list[Path], tombstone_files: list[Path],
                  source_count: int, source_keys: Callable[[], pa.Table], new_keys: pa.Table | None) -> pa.Table | None:
    """Keys to tombstone, or None when the counts show none left. `new_keys`: keys this unit adds."""
    if not archived_files:
        return None
    cols = ", ".join(quote_ident(k) for k in key)
    con = duckdb.connect()
    try:
        files = "[" + ", ".join(sql_literal(str(p)) for p in archived_files) + "]"
        archived = f"read_parquet({files}, hive_partitioning=false, union_by_name=true)"
        dead = "[" + ", ".join(sql_literal(str(p)) for p in tombstone_files) + "]" if tombstone_files else None
        # the common case costs counts only: distinct archived keys, plus keys new in this unit (a hash of the
        # few new keys probed by one scan), minus tombstoned keys (always archived keys)
        live = con.execute(f"SELECT count(DISTINCT ({cols})) FROM {archived}").fetchone()[0]
        if new_keys is not None and new_keys.num_rows:
            con.register("new_keys", new_keys)
            live += con.execute(f"SELECT count(*) FROM (SELECT DISTINCT {cols} FROM new_keys) ANTI JOIN "
                                f"(SELECT {cols} FROM {archived}) USING ({cols})").fetchone()[0]
        if dead:
            live -= con.execute(f"SELECT count(DISTINCT ({cols})) FROM read_parquet({dead})").fetchone()[0]
        if live == source_count:
            return None  # every archived live key can still be in the source: nothing left it
        keys = f"SELECT {cols} FROM {archived}"
        if new_keys is not None and new_keys.num_rows:
            keys += f" UNION SELECT {cols} FROM new_keys"
        if dead:
            keys = f"SELECT {cols} FROM ({keys}) ANTI JOIN read_parquet({dead}) USING ({cols})"
        con.register("source_keys", source_keys())
        gone = con.execute(f"SELECT DISTINCT {cols} FROM ({keys}) ANTI JOIN source_keys USING ({cols}) "
                           f"ORDER BY {cols}").to_arrow_table()
        return gone if gone.num_rows else None
    finally:
        con.close()

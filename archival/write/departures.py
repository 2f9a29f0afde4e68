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
        con.execute(f"CREATE TABLE live AS SELECT DISTINCT {cols} FROM read_parquet({files}, hive_partitioning=false, "
                    "union_by_name=true)")
        if new_keys is not None and new_keys.num_rows:
            con.register("new_keys", new_keys)
            con.execute(f"INSERT INTO live SELECT {cols} FROM new_keys EXCEPT SELECT {cols} FROM live")
        if tombstone_files:
            dead = "[" + ", ".join(sql_literal(str(p)) for p in tombstone_files) + "]"
            con.execute(f"DELETE FROM live WHERE ({cols}) IN (SELECT ({cols}) FROM read_parquet({dead}))")
        if con.execute("SELECT count(*) FROM live").fetchone()[0] == source_count:
            return None  # every archived live key can still be in the source: nothing left it
        con.register("source_keys", source_keys())
        gone = con.execute(f"SELECT {cols} FROM live ANTI JOIN source_keys USING ({cols}) ORDER BY {cols}"
                           ).to_arrow_table()
        return gone if gone.num_rows else None
    finally:
        con.close()

"""When a key left the source, as the platform's own audit trail recorded it: NocoDB writes a
`DATA_DELETE` row to `nc_audit_v2` (row_id, created_at) for a record deleted through its API or UI,
Directus an `action = 'delete'` row to `directus_activity` (item, timestamp). Bulk deletes (NocoDB
`DATA_BULK_DELETE` rows name no record), cascades (Directus records none) and SQL run past the app
leave no trace: those tombstones carry no time. The key comparison (write/departures.py) decides
which keys left; this only dates them."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from archival.sql import sql_literal

DELETED_AT = "deleted_at"


def _sql(platform: str, relation: str, keys: list[str]) -> str:
    schema, _, table = relation.rpartition(".")
    listed = ", ".join(sql_literal(k, "postgres") for k in keys)
    if platform == "nocodb":
        return ("SELECT a.row_id AS k, max(a.created_at) AS at FROM nc_audit_v2 a JOIN nc_models_v2 m ON m.id = "
                "a.fk_model_id JOIN nc_sources_v2 s ON s.id = m.source_id WHERE a.op_type = 'DATA_DELETE' AND "
                f"m.table_name = {sql_literal(table, 'postgres')} AND s.config::json->>'schema' = "
                f"{sql_literal(schema or 'public', 'postgres')} AND a.row_id IN ({listed}) GROUP BY a.row_id")
    return ("SELECT item AS k, max(timestamp) AS at FROM directus_activity WHERE action = 'delete' AND collection = "
            f"{sql_literal(table, 'postgres')} AND item IN ({listed}) GROUP BY item")


def with_delete_times(con: duckdb.DuckDBPyConnection, alias: str, platform: str, relation: str,
                      keys: pa.Table) -> pa.Table:
    """`keys` (one key column) with a `deleted_at` column: the audit trail's time, or NULL."""
    column = keys.column(0).to_pylist()
    found: dict[str, object] = {}
    for start in range(0, len(column), 1000):
        chunk = [str(k) for k in column[start:start + 1000]]
        sql = _sql(platform, relation, chunk)
        found |= dict(con.execute(f"SELECT * FROM postgres_query({sql_literal(alias)}, {sql_literal(sql)})")
                      .fetchall())
    times = pa.array([found.get(str(k)) for k in column], pa.timestamp("us", tz="UTC"))
    return keys.append_column(DELETED_AT, times)

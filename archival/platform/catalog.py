"""The database's own catalogue, asked through DuckDB's PostgreSQL scanner (read-only attachment):
metadata queries run in PostgreSQL, so the platform's JSON and arrays need no scanner support."""

from __future__ import annotations

from typing import Any

import duckdb

from archival.platform.model import PlatformError
from archival.sql import sql_literal


def rows(con: duckdb.DuckDBPyConnection, sql: str, alias: str = "src") -> list[dict[str, Any]]:
    try:
        result = con.execute(f"SELECT * FROM postgres_query({sql_literal(alias)}, {sql_literal(sql)})")
    except duckdb.Error as exc:
        raise PlatformError(f"cannot read the app's metadata: {str(exc).splitlines()[0]}") from None
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(rows(con, f"SELECT 1 AS found FROM information_schema.tables WHERE table_schema = "
                          f"{sql_literal(schema, 'postgres')} AND table_name = {sql_literal(table, 'postgres')}"))


def column_types(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, dict[str, str]]:
    """table -> column -> data type, for every table of the schema, in column order."""
    found: dict[str, dict[str, str]] = {}
    for row in rows(con, "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE "
                         f"table_schema = {sql_literal(schema, 'postgres')} ORDER BY table_name, ordinal_position"):
        found.setdefault(row["table_name"], {})[row["column_name"]] = row["data_type"]
    return found


def primary_keys(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for row in rows(con, "SELECT c.relname AS table_name, a.attname AS column_name FROM pg_index i "
                         "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                         "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) "
                         f"WHERE i.indisprimary AND n.nspname = {sql_literal(schema, 'postgres')} "
                         "ORDER BY c.relname, array_position(i.indkey::int2[], a.attnum)"):
        found.setdefault(row["table_name"], []).append(row["column_name"])
    return {t: tuple(c) for t, c in found.items()}

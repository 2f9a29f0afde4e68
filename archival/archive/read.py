"""Reading archived files back: the format of a file comes from its manifest (Parquet, or gzipped CSV
read with the manifest's schema so that values come back with the types they were written with)."""

from __future__ import annotations

import re

from archival.sql import sql_literal

_ARROW_TO_DUCKDB = [(r"^int8$", "TINYINT"), (r"^int16$", "SMALLINT"), (r"^int32$", "INTEGER"), (r"^int64$", "BIGINT"),
                    (r"^uint8$", "UTINYINT"), (r"^uint16$", "USMALLINT"), (r"^uint32$", "UINTEGER"),
                    (r"^uint64$", "UBIGINT"), (r"^(float|halffloat)$", "FLOAT"), (r"^double$", "DOUBLE"),
                    (r"^bool$", "BOOLEAN"), (r"^(string|large_string)$", "VARCHAR"), (r"^date32", "DATE"),
                    (r"^timestamp\[\w+, tz=", "TIMESTAMPTZ"), (r"^timestamp", "TIMESTAMP"), (r"^time64", "TIME"),
                    (r"^decimal128\((\d+), (\d+)\)$", r"DECIMAL(\1,\2)"), (r"^(binary|large_binary)$", "BLOB")]


def duckdb_type(arrow_type: str) -> str:
    for pattern, duck_type in _ARROW_TO_DUCKDB:
        if re.match(pattern, arrow_type):
            return re.sub(pattern, duck_type, arrow_type) if "\\" in duck_type else duck_type
    return "VARCHAR"


def file_reader(fmt: str, urls: list[str], schema: list[dict] | None = None) -> str:
    """A DuckDB table expression over archived files of one format."""
    listed = "[" + ", ".join(sql_literal(u) for u in urls) + "]"
    if fmt == "parquet":
        # the folder names carry period=...: without this DuckDB would add it as a column
        return f"read_parquet({listed}, hive_partitioning=false)"
    # CSV carries no types: read it with the manifest's schema so the fingerprint sees the same values
    columns = ", ".join(f"{sql_literal(c['name'])}: {sql_literal(duckdb_type(c['type']))}" for c in schema or [])
    return f"read_csv({listed}, header=true, hive_partitioning=false, columns={{{columns}}})"


__all__ = ["duckdb_type", "file_reader"]

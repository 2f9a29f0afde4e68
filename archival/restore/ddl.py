"""The restored table's columns. Into the engine the rows came from, each column gets the source's
own type as its catalogue printed it (the manifest's `source_schema`: `numeric(12,2)`,
`character varying(255)`, `timestamp with time zone`, `uuid`, ...), when the target knows the type;
otherwise, and into another engine, a type of the target's that holds the archive's values exactly
(timestamps with microseconds, decimals with their scale). Columns the archive holds as text (a
type archival reads as text, a hashed or masked PII column) are text; dropped PII columns come back
as empty text columns. Every choice that is not the source's own type is said in the report."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from archival.archive.manifest import Manifest
from archival.spec.model import SourceType, Table
from archival.sql import quote_ident

_PG = {"BOOLEAN": "boolean", "TINYINT": "smallint", "SMALLINT": "smallint", "INTEGER": "integer", "BIGINT": "bigint",
       "UTINYINT": "smallint", "USMALLINT": "integer", "UINTEGER": "bigint", "UBIGINT": "numeric(20,0)",
       "FLOAT": "real", "DOUBLE": "double precision", "VARCHAR": "text", "DATE": "date", "TIME": "time",
       "TIMESTAMP": "timestamp", "TIMESTAMPTZ": "timestamp with time zone", "BLOB": "bytea"}
_MYSQL = {"BOOLEAN": "tinyint(1)", "TINYINT": "tinyint", "SMALLINT": "smallint", "INTEGER": "int", "BIGINT": "bigint",
          "UTINYINT": "tinyint unsigned", "USMALLINT": "smallint unsigned", "UINTEGER": "int unsigned",
          "UBIGINT": "bigint unsigned", "FLOAT": "float", "DOUBLE": "double", "VARCHAR": "longtext", "DATE": "date",
          "TIME": "time(6)", "TIMESTAMP": "datetime(6)", "TIMESTAMPTZ": "datetime(6)", "BLOB": "longblob"}
_TEXT = {"postgres": "text", "mysql": "longtext", "sqlite": "VARCHAR"}


@dataclass(frozen=True)
class TargetColumn:
    name: str
    type: str  # in the target's dialect (DuckDB's for SQLite)
    archived: str | None  # the archive's DuckDB type; None for a dropped PII column (restored empty)
    note: str | None = None  # why it is not the source's own type
    not_null: bool = False  # the source declared it NOT NULL


def _mapped(engine: SourceType, duck: str, key: bool) -> str:
    decimal = re.match(r"DECIMAL\((\d+),(\d+)\)", duck)
    if engine == "sqlite":
        return duck
    if decimal:
        return f"numeric({decimal[1]},{decimal[2]})" if engine == "postgres" else f"decimal({decimal[1]},{decimal[2]})"
    if engine == "mysql" and key and duck == "VARCHAR":
        return "varchar(255)"  # a key needs a bounded length in MySQL
    return (_PG if engine == "postgres" else _MYSQL).get(duck, _TEXT[engine])


def target_columns(engine: SourceType, table: Table, manifest: Manifest, archived: list[tuple[str, str]],
                   known_types: set[str] | None = None) -> list[TargetColumn]:
    """`archived`: (name, DuckDB type) of the archive's columns; `known_types`: source type names the
    target database knows (PostgreSQL: asked with to_regtype), None to trust them all."""
    same = manifest.source.type == engine
    recorded = {r.name: r for r in manifest.source_schema or []}
    native = recorded if same else {}
    pii = {c.name: c.pii for c in table.columns if c.pii}
    columns = []
    for name, duck in archived:
        record = native.get(name)
        key = name in table.primary_key
        if pii.get(name) in ("hash", "mask"):
            columns.append(TargetColumn(name, _TEXT[engine] if not (engine == "mysql" and key) else "varchar(255)",
                                        duck, f"{pii[name]}ed PII: restored as stored"))
        elif record and record.source_type and record.rule in ("scanned", "decimal", "float_declared") and (
                known_types is None or record.source_type in known_types):
            columns.append(TargetColumn(name, record.source_type, duck))
        else:
            why = None
            if same and record and record.rule in ("text", "json_text"):
                why = f"the archive holds {record.source_type} as text"
            elif same and record and record.source_type:
                why = f"the target does not know the type {record.source_type}"
            columns.append(TargetColumn(name, _mapped(engine, duck, key), duck, why))
    columns = [replace(c, not_null=True) if c.archived and recorded.get(c.name) and recorded[c.name].nullable is False
               else c for c in columns]
    for name, rule in pii.items():
        if rule == "drop":
            columns.append(TargetColumn(name, _TEXT[engine], None, "dropped PII: restored as NULL"))
    return columns


def create_sql(engine: SourceType, name: str, columns: list[TargetColumn], key: tuple[str, ...] | None) -> str:
    """CREATE TABLE in the target's dialect (DuckDB's for SQLite); `name` is already quoted."""
    dialect = "mysql" if engine == "mysql" else "postgres" if engine == "postgres" else "duckdb"
    parts = [f"{quote_ident(c.name, dialect)} {c.type}{' NOT NULL' if c.not_null else ''}"  # type: ignore[arg-type]
             for c in columns]
    if key:
        parts.append(f"PRIMARY KEY ({', '.join(quote_ident(k, dialect) for k in key)})")  # type: ignore[arg-type]
    return f"CREATE TABLE {name} ({', '.join(parts)})"

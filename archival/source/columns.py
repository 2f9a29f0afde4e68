"""A relation's columns as two layers see them: DuckDB's scanner (the type it presents) and the
source engine itself (its own type name, e.g. `numeric`, `tinyint(1)`, `TIME`, and nullability).
The type rules (source/types.py) need both: the scanner's type alone cannot tell `numeric(12,2)`
from an unconstrained `numeric`, nor MySQL's `tinyint(1)` from a boolean."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from archival.source.cursor import is_naive
from archival.source.duck import SourceError
from archival.spec.model import SourceType, Table
from archival.sql import qualified, quote_relation, sql_literal


@dataclass(frozen=True)
class SourceColumn:
    name: str
    duck_type: str  # as DuckDB's scanner presents it
    native_type: str | None = None  # the engine's own name for the type, as its catalogue prints it
    nullable: bool | None = None

    @property
    def is_naive_timestamp(self) -> bool:
        return is_naive(self.duck_type)


def describe(con: duckdb.DuckDBPyConnection, alias: str, table: Table) -> list[tuple[str, str]]:
    """(name, DuckDB type) of each column, in the relation's order."""
    try:
        rows = con.execute(f"DESCRIBE {qualified(alias, table.relation)}").fetchall()
    except duckdb.CatalogException:
        raise SourceError(f"relation '{table.relation}' does not exist in the source") from None
    except duckdb.Error as exc:
        raise SourceError(f"cannot describe relation '{table.relation}': {exc}") from None
    return [(r[0], r[1]) for r in rows]


def _pg_native(relation: str) -> str:
    # format_type prints what the DDL said: numeric(12,2), numeric, character varying(20), text[], an enum's name
    return ("SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS "
            "nullable FROM pg_attribute a WHERE a.attrelid = "
            f"{sql_literal(quote_relation(relation, 'postgres'))}::regclass AND a.attnum > 0 AND NOT a.attisdropped")


def _mysql_native(relation: str) -> str:
    schema, _, name = relation.rpartition(".")
    where_schema = f"TABLE_SCHEMA = {sql_literal(schema, 'mysql')}" if schema else "TABLE_SCHEMA = DATABASE()"
    return ("SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, IS_NULLABLE = 'YES' AS nullable FROM "
            f"information_schema.COLUMNS WHERE {where_schema} AND TABLE_NAME = {sql_literal(name, 'mysql')}")


def _sqlite_native(relation: str) -> str:
    schema, _, name = relation.rpartition(".")
    args = sql_literal(name, "sqlite") + (f", {sql_literal(schema, 'sqlite')}" if schema else "")
    return f'SELECT name, type, "notnull" = 0 AS nullable FROM pragma_table_info({args})'


_NATIVE = {"postgres": _pg_native, "mysql": _mysql_native, "sqlite": _sqlite_native}


def native_types(con: duckdb.DuckDBPyConnection, alias: str, engine: SourceType,
                 relation: str) -> dict[str, tuple[str, bool | None]]:
    """name -> (the engine's type name, nullable), asked of the engine's own catalogue. Metadata only:
    on MySQL, mysql_query runs outside the unit's transaction, which is harmless for a catalogue."""
    native = _NATIVE[engine](relation)
    try:
        rows = con.execute(f"SELECT * FROM {engine}_query({sql_literal(alias)}, {sql_literal(native)})").fetchall()
    except duckdb.Error as exc:
        raise SourceError(f"cannot read the column types of '{relation}' from the source's catalogue: {exc}") from None
    return {str(name): (str(kind), None if nullable is None else str(nullable).lower() in ("true", "1", "t"))
            for name, kind, nullable in rows}


def source_columns(con: duckdb.DuckDBPyConnection, alias: str, engine: SourceType, table: Table) -> list[SourceColumn]:
    described = describe(con, alias, table)  # first: it names a relation that does not exist
    native = native_types(con, alias, engine, table.relation)
    return [SourceColumn(name, duck_type, *native.get(name, (None, None))) for name, duck_type in described]

"""SQL text: quoted identifiers and literals for DuckDB and the source engines' own dialects. Every
identifier archival writes into SQL goes through `quote_ident`, so a physical name may hold quotes,
backticks, spaces or any Unicode (low-code apps derive column names from field titles) and still
name exactly that column; values are bound or rendered by `sql_literal`, never pasted.

Below every stage: it imports nothing of archival."""

from __future__ import annotations

from typing import Literal

Dialect = Literal["duckdb", "postgres", "sqlite", "mysql"]


def quote_ident(name: str, dialect: Dialect = "duckdb") -> str:
    """`name` as a quoted identifier: the quote character doubled inside, as every engine reads it."""
    if "\x00" in name:
        raise ValueError(f"identifier {name!r} holds a NUL character")
    if dialect == "mysql":
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'


def quote_relation(relation: str, dialect: Dialect = "duckdb") -> str:
    """`table` or `schema.table` (the spec's relation syntax) with each part quoted."""
    return ".".join(quote_ident(part, dialect) for part in relation.split("."))


def qualified(alias: str, relation: str) -> str:
    """A relation of an ATTACHed source in DuckDB: `alias."schema"."table"`."""
    return f"{alias}.{quote_relation(relation)}"


def sql_literal(text: str, dialect: Dialect = "duckdb") -> str:
    """A string literal: the single quote doubled (standard SQL); for MySQL, whose default sql_mode
    reads backslash escapes in literals, the backslash doubled too."""
    if "\x00" in text:
        raise ValueError("a SQL literal cannot hold a NUL character")
    if dialect == "mysql":
        text = text.replace("\\", "\\\\")
    return "'" + text.replace("'", "''") + "'"

"""Which rows refer to a table's rows: the domain's `relations:` and the source's own foreign keys.
A purge takes children before parents and never deletes a row that a source row still refers to
(an un-archived child would lose its parent; the engine would refuse it anyway where a foreign key
is declared)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import duckdb

from archival.spec.model import Domain, Source, Table
from archival.sql import sql_literal


class ReferenceCycle(ValueError):
    """Purged tables refer to each other in a cycle: no order takes children first."""


@dataclass(frozen=True)
class Reference:
    child: str  # the referring relation, as the source names it (schema.table on PostgreSQL)
    column: str  # its referring column
    parent_column: str  # the referred column of the purged table
    child_table: str | None = None  # domain.table when the child is a spec table


def _normal(relation: str, source_type: str) -> str:
    if source_type == "postgres" and "." not in relation:
        return f"public.{relation}"
    return relation.split(".", 1)[1] if source_type == "sqlite" and relation.startswith("main.") else relation


_PG_FKS = """SELECT cn.nspname || '.' || c.relname AS child, a.attname::text AS child_column,
  pn.nspname || '.' || p.relname AS parent, pa.attname::text AS parent_column
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
JOIN pg_attribute pa ON pa.attrelid = k.confrelid AND pa.attnum = k.confkey[1]
WHERE k.contype = 'f' AND cardinality(k.conkey) = 1"""

_MYSQL_FKS = """SELECT TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME
FROM information_schema.KEY_COLUMN_USAGE
WHERE REFERENCED_TABLE_NAME IS NOT NULL AND TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_SCHEMA = DATABASE()"""


def source_foreign_keys(con: duckdb.DuckDBPyConnection, source: Source, root: Path) -> list[tuple[str, str, str, str]]:
    """(child relation, child column, parent relation, parent column) of every single-column foreign
    key the source declares (`con` has the source attached as `src`)."""
    if source.type in ("postgres", "mysql"):
        query = _PG_FKS if source.type == "postgres" else _MYSQL_FKS
        return [tuple(r) for r in con.execute(f"SELECT * FROM {source.type}_query('src', {sql_literal(query)})")
                .fetchall()]
    path = (root / source.path).resolve()  # type: ignore[operator]
    found = []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for child in tables:
            rows = db.execute(f"SELECT * FROM pragma_foreign_key_list({sql_literal(child)})").fetchall()
            counts: dict[int, int] = {}
            for row in rows:
                counts[row[0]] = counts.get(row[0], 0) + 1
            # (id, seq, table, from, to, ...): `to` is NULL when the parent's primary key is meant
            found += [(child, r[3], r[2], r[4]) for r in rows if counts[r[0]] == 1]
    return found


def references(domain: Domain, tables: list[Table], source: Source,
               foreign_keys: list[tuple[str, str, str, str]]) -> dict[str, list[Reference]]:
    """Per purged table (domain.table), what refers to it."""
    by_name = {t.name: t for t in domain.tables}
    by_relation = {_normal(t.relation, source.type): t for t in domain.tables}
    found: dict[str, set[Reference]] = {t.qualified_name: set() for t in tables}
    for rel in domain.relations:
        parent, child = by_name[rel.to_table], by_name[rel.from_table]
        if parent.qualified_name in found:
            found[parent.qualified_name].add(Reference(_normal(child.relation, source.type), rel.from_column,
                                                       rel.to_column, child.qualified_name))
    for child_rel, column, parent_rel, parent_column in foreign_keys:
        parent = by_relation.get(_normal(parent_rel, source.type))
        if parent is None or parent.qualified_name not in found:
            continue
        child = by_relation.get(_normal(child_rel, source.type))
        found[parent.qualified_name].add(Reference(_normal(child_rel, source.type), column,
                                                   parent_column or parent.primary_key[0],
                                                   child.qualified_name if child else None))
    return {name: sorted(refs, key=lambda r: (r.child, r.column)) for name, refs in found.items()}


def children_first(tables: list[Table], refs: dict[str, list[Reference]]) -> list[Table]:
    """The tables ordered so that every purged child comes before its purged parents."""
    names = {t.qualified_name: t for t in tables}
    ordered: list[Table] = []
    state: dict[str, str] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ReferenceCycle(f"purged tables refer to each other in a cycle ({' -> '.join((*path, name))}): "
                                 "no order deletes children before parents; remove `purge:` from one of them")
        state[name] = "visiting"
        for ref in refs.get(name, []):
            if ref.child_table in names and ref.child_table != name:
                visit(ref.child_table, (*path, name))
        state[name] = "done"
        ordered.append(names[name])

    for table in sorted(tables, key=lambda t: t.qualified_name):
        visit(table.qualified_name, ())
    return ordered

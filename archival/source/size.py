"""How many bytes a relation takes in its source, as the engine's catalogue says (tables and their
indexes): the basis of `archival cost`'s compression ratio."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from archival.source import duck
from archival.spec.model import Source
from archival.sql import quote_relation, sql_literal


def relation_bytes(source: Source, root: Path, relations: list[str]) -> dict[str, int]:
    """relation -> bytes, for those the catalogue answers (SQLite: needs the dbstat table)."""
    if source.type == "sqlite":
        assert source.path is not None
        path = (root / source.path).resolve()
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
            found = {}
            for relation in relations:  # a SQLite built without dbstat raises: the caller says the size is unknown
                name = relation.rpartition(".")[2]
                size = con.execute("SELECT sum(d.pgsize) FROM dbstat d JOIN sqlite_master m ON m.name = d.name "
                                   "WHERE m.tbl_name = ?", (name,)).fetchone()[0]
                if size is not None:
                    found[relation] = int(size)
            return found
    with duck.POOL.connection((source.type,)) as con:
        duck.attach(con, source, root)
        found = {}
        for relation in relations:
            if source.type == "postgres":
                sql = f"SELECT pg_total_relation_size({sql_literal(quote_relation(relation, 'postgres'))}::regclass)"
            else:
                schema, _, name = relation.rpartition(".")
                where = f"TABLE_SCHEMA = {sql_literal(schema, 'mysql')}" if schema else "TABLE_SCHEMA = DATABASE()"
                sql = (f"SELECT DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES WHERE {where} AND "
                       f"TABLE_NAME = {sql_literal(name, 'mysql')}")
            rows = con.execute(f"SELECT * FROM {source.type}_query('src', {sql_literal(sql)})").fetchall()
            if rows and rows[0][0] is not None:
                found[relation] = int(rows[0][0])
        return found

"""NocoDB (tested: 0.301.3, metadata in the same PostgreSQL database as the data, `NC_DB`): a base's
tables live in one schema named after the base's id (`nc_sources_v2.config->>'schema'`), tables in
`nc_models_v2` (`mm` marks a many-to-many junction), fields in `nc_columns_v2` (`uidt` the field type;
virtual link fields have no column), links in `nc_col_relations_v2` (`bt`: the child's foreign-key
column and the parent's key)."""

from __future__ import annotations

import json
import re

import duckdb

from archival.platform.catalog import column_types, primary_keys, rows
from archival.platform.model import AppBase, AppField, AppLink, AppTable, PlatformError, Role
from archival.sql import sql_literal

_ROLES: dict[str, Role] = {"ID": "key", "CreatedTime": "created", "LastModifiedTime": "updated",
                           "ForeignKey": "link", "CreatedBy": "system", "LastModifiedBy": "system", "Order": "system"}


def _version(con: duckdb.DuckDBPyConnection) -> str:
    config = rows(con, "SELECT value FROM nc_store WHERE key = 'NC_CONFIG_MAIN'")
    migration = rows(con, "SELECT name FROM xc_knex_migrationsv0 ORDER BY name DESC LIMIT 1")
    parts = []
    if config:
        parts.append(f"NC_CONFIG_MAIN {json.loads(config[0]['value']).get('version', '?')}")
    if migration:
        parts.append(f"latest migration {migration[0]['name']}")
    return ", ".join(parts) or "version not recorded"


def _base(con: duckdb.DuckDBPyConnection, title: str | None, schema: str | None) -> tuple[str, str, str, str]:
    """(base id, title, source id, schema) of the base named `title`, or whose tables are in `schema`
    (or the only one)."""
    found = rows(con, "SELECT b.id, b.title, s.id AS source_id, s.config FROM nc_bases_v2 b JOIN nc_sources_v2 s ON "
                      "s.base_id = b.id WHERE coalesce(b.deleted, false) = false AND coalesce(s.deleted, false) = "
                      "false AND coalesce(s.is_meta, false) = false AND s.type = 'pg' ORDER BY b.title")
    named = [b for b in found if (title is None or b["title"] == title) and (schema is None or _schema(b) == schema)]
    if len(named) != 1:
        titles = ", ".join(repr(b["title"]) for b in found) or "none"
        what = (f"no NocoDB base titled {title!r}" if title else f"no NocoDB base in schema {schema}" if schema
                else f"{len(named)} NocoDB bases")
        raise PlatformError(f"{what} in this database (bases: {titles}); name one with --base")
    base = named[0]
    found_schema = _schema(base)
    if found_schema is None:
        raise PlatformError(f"NocoDB base {base['title']!r}: nc_sources_v2.config does not name its schema (an "
                            "external or encrypted source): archival reads bases kept in NocoDB's own "
                            "database")
    return base["id"], base["title"], base["source_id"], found_schema


def _schema(base: dict) -> str | None:
    try:
        return str(json.loads(base["config"] or "{}")["schema"])
    except (ValueError, KeyError, TypeError):  # an external source's connection, or an encrypted config
        return None


def _name(table_name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", table_name.removeprefix("_nc_m2m_").lower()).strip("_") or "table"


def read_nocodb(con: duckdb.DuckDBPyConnection, title: str | None = None, schema: str | None = None) -> AppBase:
    if not rows(con, "SELECT 1 AS found FROM information_schema.tables WHERE table_name = 'nc_models_v2'"):
        raise PlatformError("no NocoDB metadata (nc_models_v2) in this database")
    base_id, base_title, source_id, schema = _base(con, title, schema)
    types, keys = column_types(con, schema), primary_keys(con, schema)
    models = rows(con, "SELECT id, table_name, title, mm, description FROM nc_models_v2 WHERE base_id = "
                       f"{sql_literal(base_id, 'postgres')} AND source_id = {sql_literal(source_id, 'postgres')} "
                       "AND type = 'table' AND coalesce(deleted, false) = false ORDER BY table_name")
    columns = rows(con, "SELECT c.id, c.fk_model_id, c.column_name, c.title, c.uidt, c.description FROM nc_columns_v2 "
                        f"c WHERE c.base_id = {sql_literal(base_id, 'postgres')} AND coalesce(c.column_name, '') <> '' "
                        "ORDER BY c.fk_model_id, c.\"order\"")
    tables, by_column = [], {}
    for model in models:
        physical = types.get(model["table_name"], {})
        fields = []
        for column in (c for c in columns if c["fk_model_id"] == model["id"] and c["column_name"] in physical):
            role = _ROLES.get(column["uidt"], "data")
            fields.append(AppField(column["column_name"], column["title"], column["uidt"], role,
                                   physical[column["column_name"]], column["description"] or None))
            by_column[column["id"]] = (f"{schema}.{model['table_name']}", column["column_name"])
        tables.append(AppTable(f"{schema}.{model['table_name']}", _name(model["table_name"]), model["title"],
                               tuple(fields), keys.get(model["table_name"], ()), bool(model["mm"]),
                               model["description"] or None))
    links = []
    for link in rows(con, "SELECT fk_child_column_id, fk_parent_column_id FROM nc_col_relations_v2 WHERE type = 'bt' "
                          f"AND base_id = {sql_literal(base_id, 'postgres')} AND coalesce(deleted, false) = false"):
        child, parent = by_column.get(link["fk_child_column_id"]), by_column.get(link["fk_parent_column_id"])
        if child and parent:
            links.append(AppLink(child[0], child[1], parent[0], parent[1]))
    return AppBase("nocodb", _version(con), base_title, schema, tuple(tables), tuple(sorted(set(links),
                                                                                             key=str)))

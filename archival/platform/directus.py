"""Directus (tested: 12.4.0, PostgreSQL): every collection with a table is an app table (system
tables are `directus_*`); fields in `directus_fields` (`special` marks date-created/date-updated and
alias fields without a column), links in `directus_relations` (`many_collection.many_field` holds the
key of `one_collection`; a junction has a `junction_field`)."""

from __future__ import annotations

import re

import duckdb

from archival.platform.catalog import column_types, primary_keys, rows
from archival.platform.model import AppBase, AppField, AppLink, AppTable, PlatformError, Role


def _role(field: dict, key: tuple[str, ...]) -> Role:
    special = field.get("special") or ""
    if field["field"] in key:
        return "key"
    if "date-created" in special:
        return "created"
    if "date-updated" in special:
        return "updated"
    if "user-created" in special or "user-updated" in special:
        return "system"
    if "m2o" in special or (field.get("interface") or "").endswith("-m2o"):
        return "link"
    return "data"


def read_directus(con: duckdb.DuckDBPyConnection, schema: str = "public") -> AppBase:
    if not rows(con, "SELECT 1 AS found FROM information_schema.tables WHERE table_name = 'directus_collections'"):
        raise PlatformError("no Directus metadata (directus_collections) in this database")
    types, keys = column_types(con, schema), primary_keys(con, schema)
    collections = rows(con, "SELECT collection, note, hidden FROM directus_collections WHERE collection NOT LIKE "
                            "'directus\\_%' ORDER BY collection")
    fields = rows(con, "SELECT collection, field, special, interface, note FROM directus_fields ORDER BY collection, "
                       "sort NULLS LAST, id")
    relations = rows(con, "SELECT many_collection, many_field, one_collection, junction_field FROM directus_relations "
                          "WHERE one_collection IS NOT NULL")
    junctions = {r["many_collection"] for r in relations if r["junction_field"]}
    tables = []
    for collection in (c for c in collections if c["collection"] in types):
        name, physical = collection["collection"], types[collection["collection"]]
        key = keys.get(name, ())
        described = {f["field"]: f for f in fields if f["collection"] == name}
        app_fields = []
        for column, data_type in physical.items():
            field = described.get(column, {"field": column})
            app_fields.append(AppField(column, column, field.get("interface") or field.get("special") or "",
                                       _role(field, key), data_type, field.get("note") or None))
        tables.append(AppTable(f"{schema}.{name}", re.sub(r"[^a-z0-9_]", "_", name.lower()), name, tuple(app_fields),
                               key, name in junctions, collection["note"] or None))
    links = []
    for relation in relations:
        parent_key = keys.get(relation["one_collection"], ())
        if relation["many_collection"] in types and len(parent_key) == 1:
            links.append(AppLink(f"{schema}.{relation['many_collection']}", relation["many_field"],
                                 f"{schema}.{relation['one_collection']}", parent_key[0]))
    migration = rows(con, "SELECT version FROM directus_migrations ORDER BY version DESC LIMIT 1")
    version = f"migrations up to {migration[0]['version']}" if migration else "version not recorded"
    return AppBase("directus", version, "Directus", schema, tuple(tables), tuple(sorted(set(links), key=str)))

"""Least privilege. `archival grants` prints the GRANT statements a source needs, per engine: a
read-only export role (SELECT on the exported relations, and on the platform metadata archival reads
when the source has `platform:`), and a purge role (SELECT and DELETE on the purged relations, SELECT
on the others, which purge reads to find rows that still refer to a purged row). `validate --connect`
asks the source what the export role may do and warns when it could write, owns an exported relation,
or is a superuser."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from archival.spec.model import Project, Source, Table
from archival.sql import quote_ident, quote_relation, sql_literal

# tables of the app's own metadata that archival reads (delete times, `init --from`, drift checks)
PLATFORM_METADATA = {"nocodb": ("public.nc_audit_v2", "public.nc_bases_v2", "public.nc_sources_v2",
                                "public.nc_models_v2", "public.nc_columns_v2", "public.nc_col_select_options_v2",
                                "public.nc_col_relations_v2", "public.nc_store", "public.xc_knex_migrationsv0"),
                     "directus": ("public.directus_activity", "public.directus_collections", "public.directus_fields",
                                  "public.directus_relations", "public.directus_migrations")}


@dataclass(frozen=True)
class Grants:
    source: str
    engine: str
    export: list[str]
    purge: list[str]
    notes: list[str]

    def text(self) -> str:
        lines = [f"-- source '{self.source}' ({self.engine}): the export role reads, nothing else"]
        lines += self.export
        if self.purge:
            lines += ["", "-- the purge role (purge_dsn): deletes archived rows of the tables with `purge:`",
                      *self.purge]
        lines += [f"-- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def _relations(project: Project, source: Source) -> tuple[list[Table], list[Table]]:
    tables = [t for d in project.domains if d.source == source.name for t in d.tables]
    return tables, [t for t in tables if t.purge is not None]


def _pg_name(relation: str) -> str:
    return quote_relation(relation if "." in relation else f"public.{relation}", "postgres")


def _pg(role: str, relations: list[str], privileges: str) -> list[str]:
    schemas = sorted({(r if "." in r else f"public.{r}").split(".")[0] for r in relations})
    return [*(f"GRANT USAGE ON SCHEMA {quote_ident(s, 'postgres')} TO {quote_ident(role, 'postgres')};"
              for s in schemas),
            f"GRANT {privileges} ON {', '.join(_pg_name(r) for r in relations)} TO {quote_ident(role, 'postgres')};"]


def _mysql(role: str, relations: list[str], privileges: str, database: str) -> list[str]:
    account = f"{sql_literal(role, 'mysql')}@'%'"
    return [f"GRANT {privileges} ON {quote_relation(r if '.' in r else f'{database}.{r}', 'mysql')} TO {account};"
            for r in relations]


def grants(project: Project, source: Source, role: str = "archival_export",
           purge_role: str = "archival_purge", database: str = "app_database") -> Grants:
    """`database`: MySQL's database of unqualified relations (the DSN's)."""
    tables, purged = _relations(project, source)
    relations = sorted({t.relation for t in tables})
    if source.platform:
        relations += [r for r in PLATFORM_METADATA[source.platform] if r not in relations]
    purged_relations = sorted({t.relation for t in purged})
    others = [r for r in relations if r not in purged_relations]
    if source.type == "postgres":
        export = _pg(role, relations, "SELECT")
        purge = (_pg(purge_role, purged_relations, "SELECT, DELETE") + (_pg(purge_role, others, "SELECT")[-1:]
                                                                       if others else [])) if purged else []
        notes = ["no UPDATE, INSERT or ownership for either role; neither needs to be a superuser"]
    elif source.type == "mysql":
        export = _mysql(role, relations, "SELECT", database)
        purge = (_mysql(purge_role, purged_relations, "SELECT, DELETE", database)
                 + _mysql(purge_role, others, "SELECT", database)) if purged else []
        notes = ["create the accounts first: CREATE USER 'archival_export'@'%' IDENTIFIED BY '...';"]
    else:
        export, purge = [], []
        notes = [f"SQLite has no roles: give the exporting process read access to {source.path} (a read-only mount "
                 "is enough); only a purge needs write access to the file and its folder"]
    return Grants(source.name, source.type, export, purge, notes)


_PG_RISKS = """SELECT c.relname::text AS relation, r.rolsuper AS superuser,
  pg_get_userbyid(c.relowner) = current_user AS owner,
  has_table_privilege(c.oid, 'INSERT') OR has_table_privilege(c.oid, 'UPDATE') OR has_table_privilege(c.oid, 'DELETE')
  OR has_table_privilege(c.oid, 'TRUNCATE') AS writes
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_roles r ON r.rolname = current_user
WHERE (n.nspname || '.' || c.relname) IN ({names})"""


def export_role_risks(con: duckdb.DuckDBPyConnection, source: Source, tables: list[Table]) -> list[str]:
    """Warnings about the export role (`con` has the source attached as `src` with the export's dsn):
    PostgreSQL only; other engines are not asked."""
    if source.type != "postgres" or not tables:
        return []
    names = ", ".join(sql_literal(t.relation if "." in t.relation else f"public.{t.relation}") for t in tables)
    rows = con.execute(f"SELECT * FROM postgres_query('src', {sql_literal(_PG_RISKS.format(names=names))})").fetchall()
    warnings = []
    if any(r[1] for r in rows):
        warnings.append(f"source '{source.name}': the export role is a superuser: it could change what it archives; "
                        f"use a read-only role (`archival grants --source {source.name}`)")
    owned = sorted(r[0] for r in rows if r[2])
    if owned:
        warnings.append(f"source '{source.name}': the export role owns {', '.join(owned[:5])}: an owner can write and "
                        "drop them; use a read-only role")
    writable = sorted(r[0] for r in rows if r[3] and not r[1] and not r[2])
    if writable:
        warnings.append(f"source '{source.name}': the export role may write to {', '.join(writable[:5])}; "
                        "it needs SELECT only")
    return warnings


def role_warnings(project: Project, tables: list[Table]) -> list[str]:
    """export_role_risks for each PostgreSQL source of `tables`, through the export's own dsn."""
    from archival.source import duck

    warnings = []
    for name in sorted({project.source_of_table(t).name for t in tables}):
        source = project.sources[name]
        if source.type != "postgres":
            continue
        mine = [t for t in tables if project.source_of_table(t).name == name]
        with duck.POOL.connection((source.type,)) as con:
            duck.attach(con, source, project.root)
            try:
                warnings += export_role_risks(con, source, mine)
            finally:
                con.execute("DETACH src")
    return warnings

"""The `relations:` of a domain, checked by reconcile: references that point at nothing (orphans) among
the archive's current rows must be exactly those the source has. Low-code apps often have no FK
constraints (NocoDB) and null or keep dangling links on deletes, so the source's own orphans are the
baseline, not zero."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field

import duckdb

from archival.archive.read import ArchiveReader, rows_sql
from archival.archive.state import archived_periods
from archival.archive.store import ArchiveStore
from archival.source import duck
from archival.source.cursor import cursor_expr
from archival.spec.model import Project, Table
from archival.sql import qualified, quote_ident


@dataclass
class RelationReport:
    relation: str  # domain: from_table.col -> to_table.col
    source_orphans: int
    archive_orphans: int
    sample: list = field(default_factory=list)  # orphan values in the archive that the source does not have

    @property
    def status(self) -> str:
        return "ok" if self.source_orphans == self.archive_orphans and not self.sample else "mismatch"


def _current_rows(con: duckdb.DuckDBPyConnection, store: ArchiveStore, stack: ExitStack, table: Table,
                  view: str) -> bool:
    """A view of the table's current rows in the archive: latest version per key, minus tombstones."""
    manifests = [a.manifest for a in archived_periods(store, table.domain, table.name).values()]
    reader = ArchiveReader(store, stack)
    files, dead = reader.data(manifests), reader.tombstones(manifests)
    if not files:
        return False
    keys = ", ".join(quote_ident(k) for k in table.primary_key)
    rows = f"SELECT * FROM ({rows_sql(files, con=con)})"
    if table.cursor:
        rows += f" QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {cursor_expr(table.cursor, quote_ident)} " \
                "DESC) = 1"
    if dead:
        rows = f"SELECT * FROM ({rows}) ANTI JOIN ({rows_sql(dead, con=con)}) USING ({keys})"
    con.execute(f"CREATE VIEW {view} AS {rows}")
    return True


def check_relations(project: Project, store: ArchiveStore, tables: list[Table]) -> list[RelationReport]:
    chosen = {t.qualified_name for t in tables}
    reports = []
    for domain in project.domains:
        for rel in domain.relations:
            a, b = domain.table(rel.from_table), domain.table(rel.to_table)
            if a is None or b is None or not {a.qualified_name, b.qualified_name} <= chosen:
                continue
            name = f"{domain.name}: {rel.from_table}.{rel.from_column} -> {rel.to_table}.{rel.to_column}"
            fc, tc = quote_ident(rel.from_column), quote_ident(rel.to_column)
            con = duck.connect((project.source_of(domain).type,))
            try:
                duck.attach(con, project.source_of(domain), project.root)
                con.execute("BEGIN TRANSACTION")  # both tables as of one snapshot
                orphans = (f"SELECT f.{fc} AS v FROM {{a}} f WHERE f.{fc} IS NOT NULL AND NOT EXISTS "
                           f"(SELECT 1 FROM {{b}} t WHERE t.{tc} = f.{fc})")
                source_sql = orphans.format(a=qualified("src", a.relation), b=qualified("src", b.relation))
                con.execute(f"CREATE TEMP TABLE source_orphans AS {source_sql}")
                with ExitStack() as stack:
                    if not (_current_rows(con, store, stack, a, "arc_a") and _current_rows(con, store, stack, b,
                                                                                          "arc_b")):
                        continue
                    archive_sql = orphans.format(a="arc_a", b="arc_b")
                    count = con.execute(f"SELECT count(*) FROM ({archive_sql})").fetchone()[0]
                    extra = con.execute(f"SELECT DISTINCT v FROM ({archive_sql}) EXCEPT SELECT v FROM source_orphans "
                                        "ORDER BY 1 LIMIT 20").fetchall()
                source_count = con.execute("SELECT count(*) FROM source_orphans").fetchone()[0]
                reports.append(RelationReport(name, source_count, count, [v for (v,) in extra]))
            finally:
                con.close()
    return reports




"""The specs against the app's metadata (`validate --connect`, sources with `platform:`): a field
renamed in the app (its title changed, the column the same) is a warning, a field or table the app
no longer has is an error naming it, a field the spec does not list is named for review."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from archival.platform.directus import read_directus
from archival.platform.model import AppBase, PlatformError
from archival.platform.nocodb import read_nocodb
from archival.source import duck
from archival.spec.model import Project, Table


@dataclass
class Drift:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)  # worded like the probe's, so validate says it once


def _read(con: duckdb.DuckDBPyConnection, platform: str, schema: str) -> AppBase:
    return read_nocodb(con, schema=schema) if platform == "nocodb" else read_directus(con, schema)


def _compare(base: AppBase, table: Table, drift: Drift) -> None:
    where, app = str(table.location or table.qualified_name), base.platform.capitalize().replace("db", "DB")
    found = base.table(table.relation)
    if found is None:
        drift.errors.append(f"{where}: {app} has no table {table.relation} any more: removed in the app? (the "
                            "archive keeps what it holds; remove the table from the spec or point it elsewhere)")
        return
    listed = {c.name: c for c in table.columns}
    for name, column in listed.items():
        field_ = found.field(name)
        if field_ is None:
            drift.errors.append(f"{where}: field '{name}' of {table.qualified_name} is no longer in {app} table "
                                f"'{found.title}': removed in the app?")
        elif column.description and field_.title != name and not (
                column.description == field_.title or column.description.startswith(field_.title + ": ")):
            drift.warnings.append(f"{where}: {app} calls column '{name}' of {table.qualified_name} '{field_.title}', "
                                  f"the spec says '{column.description}' (renamed in the app; the column is the same)")
    for field_ in found.fields:
        if field_.role in ("data", "link") and field_.column not in listed and listed:
            drift.review.append(f"{where}: new field in {app}: {table.qualified_name}.{field_.column} "
                                f"('{field_.title}', {field_.kind or field_.data_type}); review how to archive it")


def platform_drift(project: Project, tables: list[Table]) -> Drift:
    drift = Drift()
    groups: dict[tuple[str, str], list[Table]] = {}
    for table in tables:
        domain = project.domain(table.domain)
        assert domain is not None
        source = project.sources[domain.source]
        if source.platform and "." in table.relation:
            groups.setdefault((source.name, table.relation.split(".")[0]), []).append(table)
    for (source_name, schema), group in groups.items():
        source = project.sources[source_name]
        assert source.platform is not None
        try:
            with duck.POOL.connection(("postgres",)) as con:
                duck.attach(con, source, project.root)
                base = _read(con, source.platform, schema)
        except PlatformError as exc:
            drift.errors.append(f"source '{source_name}' ({source.platform}): {exc}")
            continue
        except duck.SourceError as exc:
            drift.unreachable.append(f"source not reachable: {exc}")
            continue
        for table in group:
            _compare(base, table, drift)
    return drift

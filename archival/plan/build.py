"""Gather what the plan needs (one cheap read-only look at each source, the archive's manifests) and
compile it. `plan` renders the result; `run` executes the same Plan."""

from __future__ import annotations

from datetime import UTC, datetime

from archival.archive.state import archived_periods
from archival.archive.targets import open_store, target_name
from archival.plan.compile import compile_table
from archival.plan.units import Plan
from archival.source.probe import TableFacts, probe_tables
from archival.spec.model import Project, Table


def build_plan(project: Project, tables: list[Table], *, target: str | None = None, as_of: datetime | None = None,
               offline: bool = False, selectors: tuple[str, ...] = ()) -> Plan:
    as_of = (as_of or datetime.now(UTC)).astimezone(UTC)
    store = open_store(project, target)
    facts = {t.qualified_name: TableFacts(problem="not probed (--offline)") for t in tables} if offline \
        else probe_tables(project, tables)
    units, notes = [], []
    for table in tables:
        archived = archived_periods(store, table.domain, table.name)
        u, n = compile_table(project, table, facts[table.qualified_name], archived, as_of)
        units += u
        notes += n
    return Plan(project=project.name, as_of=as_of, target=target_name(project, target), selectors=selectors,
                units=tuple(units), notes=tuple(notes), offline=offline)

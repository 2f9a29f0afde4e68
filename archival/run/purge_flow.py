"""The purge flow (`archival-purge`): `archival purge` on a schedule, one task per source (a source's
tables go children first, so they are not split), the periods it deleted and kept as an artifact.
`archival deployments` generates a daily deployment of it when any spec has a `purge:` table. A task
retried after a crash starts by settling what the crashed attempt left (docs/purge.md)."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import task
from prefect.artifacts import create_table_artifact

from archival.purge.run import purge_project
from archival.run.prefect_flow import archival_flow
from archival.spec.load import load_project
from archival.spec.model import Project, Table
from archival.spec.select import parse_selectors, select_tables


@task(name="purge", task_run_name="purge source {source}", retries=1, retry_delay_seconds=60)
def purge_source(project: Project, source: str, tables: list[Table], target: str | None, as_of: datetime,
                 dry_run: bool, max_rows: int | None) -> list[dict]:
    report = purge_project(project, tables, target=target, as_of=as_of, dry_run=dry_run, max_rows=max_rows)
    return [{"table": p.table, "period": p.period, "deleted": p.deleted, "kept": sum(p.kept.values()),
             "why kept": "; ".join(f"{n} {reason}" for reason, n in sorted(p.kept.items())) or "-",
             "run": report.run_id, "stopped": report.stopped or "-"} for p in report.periods]


@archival_flow(name="archival-purge")
def archival_purge(project_dir: str, select: list[str] | None = None, target: str | None = None,
                   as_of: datetime | None = None, dry_run: bool = False, max_rows: int | None = None) -> int:
    """Returns how many rows were deleted (a dry run: would be)."""
    project = load_project(project_dir)
    when = as_of or datetime.now(UTC)
    by_source: dict[str, list[Table]] = {}
    for table in select_tables(project, parse_selectors(select)):
        if table.purge is not None:
            by_source.setdefault(project.domain(table.domain).source, []).append(table)  # type: ignore[union-attr]
    rows = []
    for source, tables in sorted(by_source.items()):
        rows += purge_source(project, source, tables, target, when, dry_run, max_rows)
    create_table_artifact(table=rows or [{"table": "-", "period": "-", "deleted": 0, "why kept": "nothing due"}],
                          key=f"archival-purge-{project.name}".lower().replace("_", "-"))
    return sum(r["deleted"] for r in rows)

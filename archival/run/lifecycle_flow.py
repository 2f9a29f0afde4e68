"""The lifecycle flow (`archival-lifecycle`): `archival lifecycle` on a schedule, one task per table,
its table of period states as an artifact. `archival deployments` generates a daily deployment of it
when any spec has a retention."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import task
from prefect.artifacts import create_table_artifact

from archival.archive.targets import open_store
from archival.lifecycle.apply import run_lifecycle
from archival.run.prefect_flow import archival_flow
from archival.spec.load import load_project
from archival.spec.model import Project, Table
from archival.spec.select import parse_selectors, select_tables


@task(name="lifecycle", task_run_name="lifecycle {table.qualified_name}", retries=2, retry_delay_seconds=30)
def lifecycle_table(project: Project, table: Table, target: str | None, as_of: datetime,
                    dry_run: bool) -> list[dict]:
    rows = []
    for found, left in run_lifecycle(project, open_store(project, target), [table], as_of, dry_run):
        rows.append({"table": table.qualified_name, "period": found.period, "class": left.data_class,
                     "tier": left.tier_now or "-", "action": found.action, "bytes": found.bytes})
    return rows


@archival_flow(name="archival-lifecycle")
def archival_lifecycle(project_dir: str, select: list[str] | None = None, target: str | None = None,
                       as_of: datetime | None = None, dry_run: bool = False) -> int:
    """Returns how many periods were moved or expired."""
    project = load_project(project_dir)
    when = as_of or datetime.now(UTC)
    rows = []
    for table in select_tables(project, parse_selectors(select)):
        rows += lifecycle_table(project, table, target, when, dry_run)
    acted = [r for r in rows if r["action"] in ("transition", "expire", "locked")]
    create_table_artifact(table=acted or [{"table": "-", "period": "-", "action": "nothing due"}],
                          key=f"archival-lifecycle-{project.name}".lower().replace("_", "-"))
    locked = [f"{r['table']} {r['period']}" for r in rows if r["action"] == "locked"]
    if locked:  # the run fails so an automation can tell someone; everything else was done
        raise ExpiryRefused(f"{len(locked)} period(s) past retention are under S3 Object Lock: "
                            f"{', '.join(locked[:10])}")
    return len(acted)


class ExpiryRefused(Exception):
    pass

"""The lifecycle flow (`archival-lifecycle`): `archival lifecycle` on a schedule, one task per table,
its table of period states as an artifact. `archival deployments` generates a daily deployment of it
when any spec has a retention."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, task
from prefect.artifacts import create_table_artifact

from archival.archive.targets import open_store
from archival.lifecycle.apply import apply, sweep_temps
from archival.lifecycle.survey import survey
from archival.spec.load import load_project
from archival.spec.model import Project, Table
from archival.spec.select import parse_selectors, select_tables


@task(name="lifecycle", task_run_name="lifecycle {table.qualified_name}", retries=2, retry_delay_seconds=30)
def lifecycle_table(project: Project, table: Table, target: str | None, as_of: datetime,
                    dry_run: bool) -> list[dict]:
    store = open_store(project, target)
    if not dry_run:
        sweep_temps(store, table)
    rows = []
    for state in survey(project, store, [table], as_of):
        done = state if dry_run or state.action not in ("transition", "expire") else apply(store, state)
        rows.append({"table": table.qualified_name, "period": state.period, "class": done.data_class,
                     "tier": done.tier_now or "-", "action": state.action, "bytes": state.bytes})
    return rows


@flow(name="archival-lifecycle")
def archival_lifecycle(project_dir: str, select: list[str] | None = None, target: str | None = None,
                       as_of: datetime | None = None, dry_run: bool = False) -> int:
    """Returns how many periods were moved or expired."""
    project = load_project(project_dir)
    when = as_of or datetime.now(UTC)
    rows = []
    for table in select_tables(project, parse_selectors(select)):
        rows += lifecycle_table(project, table, target, when, dry_run)
    acted = [r for r in rows if r["action"] in ("transition", "expire")]
    create_table_artifact(table=acted or [{"table": "-", "period": "-", "action": "nothing due"}],
                          key=f"archival-lifecycle-{project.name}".lower().replace("_", "-"))
    return len(acted)

"""The reconcile flow: compares archived periods with their sources and fails its run (so Prefect
automations can alert) when any period differs. Scheduled after the export deployments."""

from __future__ import annotations

from prefect.artifacts import create_table_artifact

from archival.run.prefect_flow import archival_flow
from archival.spec.load import load_project
from archival.spec.select import parse_selectors, select_tables
from archival.verify.reconcile import reconcile_project


class ReconcileMismatch(Exception):
    pass


@archival_flow(name="archival-reconcile")
def archival_reconcile(project_dir: str, select: list[str] | None = None, target: str | None = None,
                       period: str | None = None) -> bool:
    project = load_project(project_dir)
    reports, relations = reconcile_project(project, select_tables(project, parse_selectors(select)), target=target,
                                           period=period)
    create_table_artifact(table=[{"table": r.table, "period": r.period, "source": r.source_rows,
                                  "archive": r.archive_rows, "missing": r.missing, "extra": r.extra,
                                  "different": r.different, "status": r.status} for r in reports],
                          key=f"archival-reconcile-{project.name}".lower().replace("_", "-"))
    bad = [f"{r.table} {r.period}" for r in reports if r.status != "ok"]
    bad += [f"relation {r.relation}" for r in relations if r.status != "ok"]
    if bad:
        raise ReconcileMismatch(f"{len(bad)} period(s) differ from the source: {', '.join(bad[:10])}")
    return True

"""The units of a plan one after another in this process, with the run record and audit entry, and
a failure propagating as it happened: what tests and benches call to look at units themselves (a
CLI run without Prefect is run/direct.py, with the run's admission, limits and retries)."""

from __future__ import annotations

from datetime import UTC, datetime

from archival.failpoints import failpoint
from archival.plan.units import Plan, UnitResult
from archival.record.anchor import record_head
from archival.record.initiator import who
from archival.record.runs import audit_run, write_run_record
from archival.run.context import RunContext, shared_snapshots
from archival.run.work import run_item, work_items


def run_inline(plan: Plan, ctx: RunContext) -> list[UnitResult]:
    results: list[UnitResult] = []
    with shared_snapshots(ctx, {u.source for u in plan.due}):
        for item in work_items(list(plan.due)):
            results += run_item(ctx, item, ctx.lineage, raise_errors=True)
    header = run_header(plan, ctx)
    path = write_run_record(ctx.store, ctx.run_id, header, results)
    failpoint("run:record")
    audit_run(ctx.store, ctx.run_id, "ok", who(ctx.project.root), header, results, path)  # a failure raised above
    record_head(ctx.store, ctx.project.root, ctx.project.name)
    return results


def run_header(plan: Plan, ctx: RunContext) -> dict:
    header = {"project": plan.project, "target": ctx.target, "as_of": plan.as_of.isoformat(),
              "selectors": list(plan.selectors), "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "skipped_up_to_date": len(plan.units) - len(plan.due),
              "notes": [f"{n.level}: {n.table}: {n.message}" for n in plan.notes]}
    refreshed = [u for u in plan.due if u.refresh]
    if refreshed:
        header["refresh"] = {"reason": refreshed[0].refresh, "units": [u.id for u in refreshed]}
    return header

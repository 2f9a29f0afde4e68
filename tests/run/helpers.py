"""Run a project's due units without Prefect: the same export_unit the flow's tasks call."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from archival.archive.targets import open_store
from archival.plan.build import build_plan
from archival.record.lineage import LineageEmitter
from archival.run.context import RunContext, Tuning, new_run_id, shared_snapshots
from archival.run.unit import UnitResult, export_unit
from archival.spec.load import load_project
from archival.spec.select import parse_selectors, select_tables


def run_units(folder: Path, as_of: datetime, select: list[str] | None = None, tuning: Tuning | None = None,
              target: str | None = None, check_plan: bool = True) -> tuple[RunContext, list[UnitResult]]:
    """`check_plan=False` runs the units of a plan with errors too (to see how a unit itself fails)."""
    project = load_project(folder)
    plan = build_plan(project, select_tables(project, parse_selectors(select)), as_of=as_of, target=target)
    errors = [n for n in plan.notes if n.level == "error"]
    assert not errors or not check_plan, errors
    store = open_store(project, target)
    ctx = RunContext(project, store, target or project.default_target, new_run_id(), tuning or Tuning())
    ctx.load_pii_key()
    lineage = LineageEmitter(store, ctx.run_id, store.uri())
    with shared_snapshots(ctx, {u.source for u in plan.due}):
        return ctx, [export_unit(ctx, unit, lineage) for unit in plan.due]


def archive_files(folder: Path) -> dict[str, bytes]:
    root = folder / "archive"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".work" not in p.parts}

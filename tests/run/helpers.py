"""Run a project's due units without Prefect: the same prepare(), work items and units as the flow."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from archival.plan.units import UnitResult
from archival.run.context import RunContext, Tuning
from archival.run.inline import run_inline
from archival.run.prepare import prepare


def run_units(folder: Path, as_of: datetime, select: list[str] | None = None, tuning: Tuning | None = None,
              target: str | None = None, check_plan: bool = True) -> tuple[RunContext, list[UnitResult]]:
    """`check_plan=False` runs the units of a plan with errors too (to see how a unit itself fails)."""
    with prepare(folder, select, target, as_of=as_of, tuning=tuning) as (plan, ctx):
        errors = [n for n in plan.notes if n.level == "error"]
        assert not errors or not check_plan, errors
        return ctx, run_inline(plan, ctx)


def archive_files(folder: Path) -> dict[str, bytes]:
    root = folder / "archive"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".work" not in p.parts and "_locks" not in p.parts}

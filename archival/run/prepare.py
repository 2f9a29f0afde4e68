"""The one way a run is prepared, by the Prefect flow and by direct runs (tests, benches): load the
project once, take the locks of the selected tables (archive/locks.py), compile the plan for them,
and make the RunContext. The locks are held until the block ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from archival.archive.audit_log import completed_runs
from archival.archive.layout import new_run_id
from archival.archive.locks import TableLocks
from archival.archive.targets import open_store, target_name
from archival.plan.build import build_plan
from archival.plan.refresh import Refresh
from archival.plan.units import Plan
from archival.run.context import RunContext, Tuning
from archival.spec.load import load_project
from archival.spec.select import parse_selectors, select_tables


@contextmanager
def prepare(project_dir: Path | str, select: list[str] | None = None, target: str | None = None, *,
            as_of: datetime | None = None, tuning: Tuning | None = None, run_id: str | None = None,
            ignore_quiet_hours: bool = False, global_limits: bool = False,
            refresh: Refresh | None = None) -> Iterator[tuple[Plan, RunContext]]:
    project = load_project(project_dir)
    selectors = parse_selectors(select)
    tables = select_tables(project, selectors)
    store = open_store(project, target)
    run_id = run_id or new_run_id()
    with TableLocks(store, run_id, [t.qualified_name for t in tables]):
        finished = frozenset(completed_runs(store))
        plan = build_plan(project, tables, target=target, as_of=as_of, selectors=tuple(str(s) for s in selectors),
                          store=store, completed=finished, refresh=refresh)
        ctx = RunContext(project, store, target_name(project, target), run_id, tuning or Tuning(),
                         ignore_quiet_hours=ignore_quiet_hours, global_limits=global_limits, completed_runs=finished)
        ctx.load_pii_key()
        yield plan, ctx

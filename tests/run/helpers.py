"""Run a project's due units without Prefect: the same prepare(), work items and units as the flow.

Importing this loads the export stack (polars, Pandera, OpenLineage), which a run loads with its first
unit: the benchmarks that time `run_units` in a fresh process measure the run's work, as before.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from archival.plan.refresh import Refresh
from archival.plan.units import UnitResult
from archival.run.context import RunContext, Tuning
from archival.run.inline import run_inline
from archival.run.prepare import prepare
from archival.run.unit import export_unit  # noqa: F401 - loaded here, as in a warm process


def run_units(folder: Path, as_of: datetime, select: list[str] | None = None, tuning: Tuning | None = None,
              target: str | None = None, check_plan: bool = True,
              refresh: Refresh | None = None) -> tuple[RunContext, list[UnitResult]]:
    """`check_plan=False` runs the units of a plan with errors too (to see how a unit itself fails)."""
    with prepare(folder, select, target, as_of=as_of, tuning=tuning, refresh=refresh) as (plan, ctx):
        errors = [n for n in plan.notes if n.level == "error"]
        assert not errors or not check_plan, errors
        return ctx, run_inline(plan, ctx)


def archive_files(folder: Path) -> dict[str, bytes]:
    root = folder / "archive"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".work" not in p.parts and "_locks" not in p.parts}


def archived_sql(folder: Path, domain: str, table: str, columns: list[str] | None = None) -> str:
    """A DuckDB subquery over a table's current archived rows, whatever their format: through the one
    archive reader, as the product reads them (a local archive: files are read in place)."""
    from contextlib import ExitStack

    from archival.archive.read import ArchiveReader, rows_sql
    from archival.archive.state import archived_periods
    from archival.archive.store import LocalStore

    store = LocalStore(folder / "archive")
    with ExitStack() as stack:
        files = ArchiveReader(store, stack).data(a.manifest for a in archived_periods(store, domain, table).values())
    import duckdb

    return f"({rows_sql(files, columns, con=duckdb.default_connection())})"  # the one duckdb.sql() runs on


def run_with_a_vanishing_table(folder: Path, monkeypatch, db: Path, table: str, args: list[str]) -> int:
    """`archival run` (the CLI, through Prefect) in which `table` of the SQLite source `db` is renamed
    after the plan, so its unit fails: a run recorded as failed. Returns the exit status."""
    import sqlite3
    from contextlib import closing

    import archival.run.prepare as prepare_module
    from archival import cli

    real_build = prepare_module.build_plan

    def build_then_rename(*a, **kw):
        plan = real_build(*a, **kw)
        with closing(sqlite3.connect(db)) as con, con:
            con.execute(f'ALTER TABLE "{table}" RENAME TO "{table}_gone"')
        return plan

    monkeypatch.setattr(prepare_module, "build_plan", build_then_rename)
    try:
        return cli.main(["run", "--project-dir", str(folder), *args])
    finally:
        monkeypatch.setattr(prepare_module, "build_plan", real_build)

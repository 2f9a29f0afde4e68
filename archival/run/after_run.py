"""`reconcile: after_run`: when a run has written periods of such tables, each is compared with its
source once more (archival/verify/reconcile.py: the export's own reading of the source, one keyed
hash join) before the run ends. A period whose rows differ (a row changed in the source while the
export read it, a row that vanished) fails the run, names the keys, and emits the Prefect event
`archival.reconcile.mismatch` for automations. The cost is one more read of the periods written,
never of the rest of the archive (bench/ has the figure)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archival.plan.units import UnitResult
from archival.run.context import RunContext

if TYPE_CHECKING:
    from archival.verify.reconcile import PeriodReport


def reconcile_written(ctx: RunContext, results: list[UnitResult],
                      event: Callable[[str, dict[str, str], dict[str, Any]], None]) -> list[PeriodReport]:
    """The reports of the written periods of `reconcile: after_run` tables (`event` for each mismatch)."""
    tables = {t.qualified_name: t for d in ctx.project.domains for t in d.tables if t.reconcile_after_run}
    written = sorted({tuple(r.unit_id.split("/", 1)) for r in results
                      if r.outcome == "written" and r.unit_id.split("/", 1)[0] in tables})
    if not written:
        return []
    from archival.verify.reconcile import reconcile  # its DuckDB and polars work: only when there is some

    ctx.load_pii_key()
    reports = []
    with tempfile.TemporaryDirectory(prefix="archival-after-run-") as work:
        for name, period in written:
            reports += reconcile(ctx.project, ctx.store, [tables[name]], ctx.pii_key, Path(work), period)
    for report in reports:
        if report.status != "ok":
            event("archival.reconcile.mismatch",
                  {"prefect.resource.id": f"archival.unit.{report.table}/{report.period}"},
                  {"run_id": ctx.run_id, "missing": report.missing_keys, "extra": report.extra_keys,
                   "different": report.different_keys})
    return reports


def mismatch_lines(reports: list[PeriodReport]) -> list[str]:
    lines = []
    for r in reports:
        if r.status == "ok":
            continue
        parts = [f"{n} {name} ({', '.join(map(str, keys))}{', ...' if n > len(keys) else ''})"
                 for name, n, keys in (("missing", r.missing, r.missing_keys), ("extra", r.extra, r.extra_keys),
                                       ("different", r.different, r.different_keys)) if n]
        lines.append(f"{r.table} {r.period}: the archive and the source differ after this run: {'; '.join(parts)}; "
                     f"`archival reconcile --repair --select table:{r.table}` re-reads it")
    return lines

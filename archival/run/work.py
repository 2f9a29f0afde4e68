"""What a run executes: work items, each one unit or the units that share one transaction (a
domain's related tables on MySQL/MariaDB or SQLite: plan/stage_list.py). An item is one task of the
flow and one reader of its source; its units run in plan order on one connection, so related tables
are read as of one instant and no orphan appears that the source never had. The flow and the tests
run items through the same function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from archival.extract.snapshot import shared_transaction
from archival.plan.units import ExportUnit, UnitResult
from archival.run.context import RunContext
from archival.run.errors import classify, failed_result
from archival.run.interrupt import Interrupted

if TYPE_CHECKING:
    import duckdb

    from archival.record.lineage import LineageEmitter


@dataclass(frozen=True)
class WorkItem:
    units: tuple[ExportUnit, ...]

    @property
    def source(self) -> str:
        return self.units[0].source

    @property
    def id(self) -> str:
        first = self.units[0]
        return first.id if len(self.units) == 1 else f"{first.shared_transaction} ({len(self.units)} units)"


def work_items(units: list[ExportUnit]) -> list[WorkItem]:
    """Units grouped by shared transaction, in the order of each item's first unit."""
    groups: dict[str, list[ExportUnit]] = {}
    items: list[list[ExportUnit]] = []
    for unit in units:
        if unit.shared_transaction is None:
            items.append([unit])
        elif unit.shared_transaction in groups:
            groups[unit.shared_transaction].append(unit)
        else:
            groups[unit.shared_transaction] = [unit]
            items.append(groups[unit.shared_transaction])
    return [WorkItem(tuple(units)) for units in items]


class ItemFailed(Exception):
    """A unit of a shared transaction failed transiently: the whole item is retried (the units it had
    already finished are found unchanged), with the results so far for the record."""

    def __init__(self, cause: BaseException, results: list[UnitResult]):
        self.cause, self.results = cause, results
        super().__init__(str(cause))


def export_unit(ctx: RunContext, unit: ExportUnit, lineage: LineageEmitter | None = None,
                connection: duckdb.DuckDBPyConnection | None = None) -> UnitResult:
    """run/unit.py's. The export stack (polars, Pandera, OpenLineage ...) is imported with the first
    unit that runs: a run whose units all wait (quiet hours, a spent quota) never pays for it. Workers
    that start together import it once: the others wait on the import's module lock."""
    from archival.run.unit import export_unit as export

    return export(ctx, unit, lineage, connection)


def run_item(ctx: RunContext, item: WorkItem, lineage: LineageEmitter | None, raise_errors: bool = True
             ) -> list[UnitResult]:
    """`raise_errors`: the first failure propagates (as a direct call expects); otherwise a unit's
    systemic failure is its result and the others go on, and a transient one fails the item."""
    if len(item.units) == 1 and item.units[0].shared_transaction is None:
        return [export_unit(ctx, item.units[0], lineage)]
    source = ctx.project.sources[item.source]
    results: list[UnitResult] = []
    with shared_transaction(source, ctx.project.root, ctx.tuning.memory_limit, ctx.tuning.threads) as connection:
        for unit in item.units:
            try:
                results.append(export_unit(ctx, unit, lineage, connection))
            except Exception as exc:
                if raise_errors or isinstance(exc, Interrupted):
                    raise
                if classify(exc) == "transient":
                    raise ItemFailed(exc, results) from exc
                results.append(failed_result(unit, exc, 0.0, "systemic"))
    return results

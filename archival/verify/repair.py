"""`archival reconcile --repair`: the refresh (plan/refresh.py) of exactly the periods reconcile found
different, with a reason that says what it found. Relations are not repaired on their own: their
orphans come from rows, which the refresh of the tables' periods corrects."""

from __future__ import annotations

from archival.plan.refresh import Refresh
from archival.verify.reconcile import PeriodReport


def repair_request(reports: list[PeriodReport]) -> Refresh | None:
    bad = [r for r in reports if r.status != "ok"]
    if not bad:
        return None
    counts = (f"{sum(r.missing for r in bad)} missing, {sum(r.different for r in bad)} different, "
              f"{sum(r.extra for r in bad)} extra row(s)")
    return Refresh(f"reconcile --repair: {counts} in {len(bad)} period(s)",
                   tuple(f"{r.table}/{r.period}" for r in bad))

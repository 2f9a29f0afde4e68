"""A period's data class and the tier it is due for, from its age in data time: the as-of instant
minus the period's end (a full table, and the `null`/`out_of_range` periods: minus their last change,
when the current version was written). `retention: {hot, cool, cold}` are consecutive durations (hot
for `hot`, then cool for `cool`, then cold for `cold`); after the last one, `then: delete` expires
the period and `then: keep` keeps it in the last tier. A tier left out lasts no time; no durations
at all: the period stays in the table's starting `tier`. The starting tier is a floor: a table that
starts `cool` never goes back to hot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from archival.plan.periods import parse_label
from archival.spec.model import Table, Tier

DataClass = Literal["active", "dormant", "archived", "expired"]
TIERS: tuple[Tier, ...] = ("hot", "cool", "cold")
CLASS_OF: dict[Tier, DataClass] = {"hot": "active", "cool": "dormant", "cold": "archived"}


@dataclass(frozen=True)
class Due:
    data_class: DataClass
    tier: Tier | None  # None: expired
    age: timedelta | None  # None: the period is still open
    ended: datetime | None


def period_end(table: Table, period: str, last_change: datetime, tz: str) -> datetime:
    """`tz`: the domain's calendar zone."""
    if table.mode == "full" or table.period is None or period in ("full", "null", "out_of_range"):
        return last_change
    return parse_label(period, table.period, tz).end


def policy(table: Table) -> str:
    r = table.retention
    parts = [f"{name} {d.text}" for name, d in (("hot", r.hot), ("cool", r.cool), ("cold", r.cold)) if d]
    return ", ".join(parts + [f"then {r.then}"]) if parts else "no retention"


def due(table: Table, ended: datetime, as_of: datetime) -> Due:
    start = TIERS.index(table.tier)
    if ended > as_of:
        return Due("active", table.tier, None, ended)
    age = as_of - ended
    r = table.retention
    bounds, total = [], timedelta(0)
    for tier, duration in zip(TIERS, (r.hot, r.cool, r.cold), strict=True):
        if duration is not None:
            total += duration.delta
            bounds.append((tier, total))
    if not bounds:
        return Due(CLASS_OF[table.tier], table.tier, age, ended)
    aged: Tier | None = next((tier for tier, bound in bounds if age < bound), None)
    if aged is None:
        if r.then == "delete":
            return Due("expired", None, age, ended)
        aged = bounds[-1][0]
    tier = TIERS[max(start, TIERS.index(aged))]
    return Due(CLASS_OF[tier], tier, age, ended)

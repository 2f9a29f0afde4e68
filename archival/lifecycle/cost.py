"""`archival cost`: what the archive costs now and in 1, 3 and 5 years, from its manifests and the
specs' tiers and retention, under a price table (`costs:` in archival.yaml, or archival's defaults).

The model, and its assumptions (printed with every projection):
- now: the bytes of every period's current files, in the tier the lifecycle last recorded;
- growth: a window or incremental table grows each month by what its periods that ended in the last
  12 months hold, per month (data time); a full table by nothing (its snapshot is replaced, and
  earlier versions are kept: their bytes count now, and a changed snapshot adds its size);
- each month every period, the existing and the projected ones, sits in the tier its age makes due
  (as `archival lifecycle` would move it), so transitions are counted once per period and file, and
  expired periods cost nothing from then on;
- retrieval: what reading the whole archive back once would cost at the end of each horizon."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb

from archival.lifecycle.classes import due
from archival.lifecycle.survey import PeriodState
from archival.source import duck
from archival.source.size import relation_bytes
from archival.spec.model import Prices, Project, Table

GB = 1024 ** 3
MONTH = timedelta(days=30.44)


@dataclass
class TableCost:
    table: str
    bytes_by_tier: dict[str, int]
    expired_bytes: int
    growth_per_month: int
    files_per_period: float
    source_bytes: int | None = None  # the relation's size in the source's catalogue, when it answered


@dataclass
class Horizon:
    years: int
    bytes_by_tier: dict[str, int]
    storage: float  # total over the horizon
    transitions: float
    monthly_at_end: float
    retrieval_at_end: float


@dataclass
class CostReport:
    prices: Prices
    as_of: datetime
    tables: list[TableCost]
    horizons: list[Horizon] = field(default_factory=list)


def table_costs(tables: list[Table], states: list[PeriodState], as_of: datetime) -> list[TableCost]:
    costs = []
    for table in tables:
        mine = [s for s in states if s.table.qualified_name == table.qualified_name]
        by_tier: dict[str, int] = {}
        for state in mine:
            if state.tier_now:
                by_tier[state.tier_now] = by_tier.get(state.tier_now, 0) + state.bytes
        recent = [s for s in mine if s.tier_now and s.due.ended and as_of - timedelta(days=365) <= s.due.ended <= as_of]
        months = 12 if recent else 1
        growth = 0 if table.mode == "full" else sum(s.bytes for s in recent) // months
        files = [len(s.current_files) for s in mine if s.tier_now]
        costs.append(TableCost(table.qualified_name, by_tier, sum(s.stored.manifest.expiry.bytes for s in mine
                                                                  if s.stored.manifest.expiry),
                               growth, sum(files) / len(files) if files else 1.0))
    return costs


def project(tables: list[Table], states: list[PeriodState], costs: list[TableCost], prices: Prices,
            as_of: datetime, years: tuple[int, ...] = (1, 3, 5)) -> list[Horizon]:
    """Month by month up to the longest horizon (see the module's assumptions)."""
    by_name = {t.qualified_name: t for t in tables}
    # (table, bytes, files, ended, tier now) of every period, existing and projected
    periods = [(s.table, s.bytes, len(s.current_files), s.due.ended or as_of, s.tier_now)
               for s in states if s.tier_now]
    growth = {c.table: c for c in costs}
    horizons, storage, transitions = [], 0.0, 0.0
    for month in range(1, 12 * max(years) + 1):
        instant = as_of + MONTH * month
        for name, cost in growth.items():
            if cost.growth_per_month:
                periods.append((by_name[name], cost.growth_per_month, max(1, round(cost.files_per_period)),
                                instant - MONTH, by_name[name].tier))
        placed: dict[str, int] = {}
        moved = []
        for index, (table, size, files, ended, tier) in enumerate(periods):
            wanted = due(table, ended, instant).tier
            if wanted is None:
                continue
            if wanted != tier:
                transitions += files / 1000 * prices.transition_per_1000.get(wanted, 0.0)
                moved.append((index, wanted))
            placed[wanted] = placed.get(wanted, 0) + size
        for index, wanted in moved:
            table, size, files, ended, _ = periods[index]
            periods[index] = (table, size, files, ended, wanted)
        monthly = sum(b / GB * prices.storage_gb_month.get(t, 0.0) for t, b in placed.items())
        storage += monthly
        if month % 12 == 0 and month // 12 in years:
            retrieval = sum(b / GB * prices.retrieval_gb.get(t, 0.0) for t, b in placed.items())
            horizons.append(Horizon(month // 12, dict(placed), storage, transitions, monthly, retrieval))
    return horizons


def source_sizes(project: Project, tables: list[Table]) -> tuple[dict[str, int], list[str]]:
    """Each table's size in its source's catalogue; the domains whose source did not answer, said."""
    sizes: dict[str, int] = {}
    problems = []
    for domain in {t.domain for t in tables}:
        found = project.domain(domain)
        assert found is not None
        mine = [t for t in tables if t.domain == domain]
        try:
            by_relation = relation_bytes(project.source_of(found), project.root, [t.relation for t in mine])
        except (duck.SourceError, duckdb.Error, sqlite3.Error) as exc:  # a size is context, not a check
            problems.append(f"source sizes of domain {domain} unknown: {str(exc).splitlines()[0]}")
            continue
        sizes.update({t.qualified_name: by_relation[t.relation] for t in mine if t.relation in by_relation})
    return sizes, problems

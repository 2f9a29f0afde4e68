"""What the specs' tiers and retention make due in the archive, summed for `archival plan` (a
changed retention shows in the pull request): moves per tier, expiries with their bytes and rows,
held periods, and what applying it changes in storage cost per year. Tiers as recorded: no request
per S3 object."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from archival.archive.store import ArchiveStore
from archival.lifecycle.classes import TIERS
from archival.lifecycle.cost import GB
from archival.lifecycle.survey import PeriodState, survey
from archival.spec.model import Prices, Project, Table


@dataclass(frozen=True)
class DueSummary:
    moves: dict[str, int]  # tier -> periods due to move there
    expire: int
    expire_bytes: int
    expire_rows: int
    held: int
    yearly_change: float  # storage cost per year once applied (negative: a saving)
    currency: str

    @property
    def anything(self) -> bool:
        return bool(self.moves or self.expire or self.held)

    def text(self) -> str:
        parts = [f"{n} period(s) to {tier}" for tier, n in self.moves.items()]
        if self.expire:
            parts.append(f"{self.expire} period(s) expire ({self.expire_bytes:,} bytes, {self.expire_rows:,} rows)")
        if self.held:
            parts.append(f"{self.held} held past retention")
        change = abs(self.yearly_change)
        amount = f"{change:,.2f}" if change >= 10 else f"{change:.4f}"
        parts.append(f"storage {'+' if self.yearly_change >= 0 else '-'}{amount} {self.currency}/year once applied")
        return f"lifecycle due: {', '.join(parts)}; `archival lifecycle --dry-run` lists them"


def _yearly(states: list[PeriodState], price: dict[str, float], tier_of) -> float:
    return 12 * sum(s.bytes / GB * price.get(tier_of(s), 0.0) for s in states if tier_of(s))


def due_summary(project: Project, store: ArchiveStore, tables: list[Table], as_of: datetime) -> DueSummary | None:
    """None when no selected table has a retention."""
    if not any(t.retention.total for t in tables):
        return None
    states = survey(project, store, tables, as_of, probe=False)
    moves = Counter(s.due.tier for s in states if s.action == "transition" and s.due.tier)
    expire = [s for s in states if s.action == "expire"]
    prices = project.costs or Prices()
    after = _yearly(states, prices.storage_gb_month,
                    lambda s: s.due.tier if s.action in ("transition", "expire") else s.tier_now)
    return DueSummary({t: moves[t] for t in TIERS if moves[t]}, len(expire), sum(s.bytes for s in expire),
                      sum(s.rows for s in expire), sum(1 for s in states if s.action == "held"),
                      after - _yearly(states, prices.storage_gb_month, lambda s: s.tier_now), prices.currency)

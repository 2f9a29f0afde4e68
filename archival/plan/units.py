"""The plan's data: plain frozen dataclasses that the executor runs and the explainer renders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from archival.checksums import ALGORITHM as JSON_MD5
from archival.checksums import FingerprintAlgorithm
from archival.spec.model import Mode

if TYPE_CHECKING:
    from archival.plan.stages import Stage

NULL_PERIOD = "null"  # rows whose cursor is NULL
OUT_OF_RANGE = "out_of_range"  # rows whose cursor lies outside the plausible range (plan/compile.py)
SPECIAL_PERIODS = (NULL_PERIOD, OUT_OF_RANGE)  # labels that are not calendar periods

# new: never archived; changed: archived under another spec fingerprint (re-exported as a new
# manifest version); refresh: re-read every run, writes only if rows differ (full tables, periods an
# incremental run reaches); up_to_date: archived with this spec, closed, skipped; unknown: archived,
# but its source could not be reached to check it (not run).
UnitStatus = Literal["new", "changed", "refresh", "up_to_date", "unknown"]
STATUSES: tuple[UnitStatus, ...] = ("new", "changed", "refresh", "up_to_date", "unknown")


@dataclass(frozen=True)
class Window:
    """Half-open [start, end) over the cursor (its first non-NULL column), in UTC."""

    columns: tuple[str, ...]
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ExportUnit:
    domain: str
    table: str
    period: str  # label: 2026-10, 2026-W43, ..., or `full`
    mode: Mode
    source: str
    spec_sha256: str
    status: UnitStatus
    reason: str
    window: Window | None = None
    archived_version: int | None = None
    detect_deletes: bool = False  # incremental: this unit also compares key sets and tombstones departed keys
    delta: bool = False  # the period is archived under this spec: only versions it lacks are added
    shared_transaction: str | None = None  # units read in one transaction on one connection (plan/stage_list.py)
    refresh: str | None = None  # the reason of a refresh asked for on purpose (plan/refresh.py), audited
    rewrite: bool = False  # refresh of a period archived under this spec: source rows replace matching versions
    fingerprint_algorithm: FingerprintAlgorithm = JSON_MD5  # of the row fingerprint (plan/compile.py decides)
    stages: tuple[Stage, ...] = ()  # what the executor runs, in order (plan/stages.py)

    @property
    def id(self) -> str:
        """Stable across runs and machines: the same table and period always have the same id."""
        return f"{self.domain}.{self.table}/{self.period}"

    @property
    def qualified_table(self) -> str:
        return f"{self.domain}.{self.table}"

    @property
    def due(self) -> bool:
        return self.status not in ("up_to_date", "unknown")


@dataclass(frozen=True)
class PlanNote:
    """Something the plan could not know or wants a reviewer to see."""

    table: str  # domain.table
    level: Literal["info", "warning", "error"]
    message: str


@dataclass(frozen=True)
class Plan:
    project: str
    as_of: datetime
    target: str
    selectors: tuple[str, ...]
    units: tuple[ExportUnit, ...]
    notes: tuple[PlanNote, ...] = field(default_factory=tuple)
    offline: bool = False
    unreachable: tuple[str, ...] = ()  # sources that could not be reached: what depends on them is unknown
    refresh: str | None = None  # a refresh run (plan/refresh.py): only the refreshed units are due

    @property
    def due(self) -> tuple[ExportUnit, ...]:
        return tuple(u for u in self.units if u.due and (self.refresh is None or u.refresh))

    @property
    def has_errors(self) -> bool:
        return any(n.level == "error" for n in self.notes)


Outcome = Literal["written", "unchanged", "failed", "deferred"]


@dataclass
class UnitResult:
    """What running one unit did (the run record lists one per unit)."""

    unit_id: str
    outcome: Outcome
    rows: int = 0
    bytes: int = 0
    files: int = 0
    seconds: float = 0.0
    manifest: str | None = None
    version: int | None = None
    error: str | None = None
    error_class: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage name (plan/stages.py)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

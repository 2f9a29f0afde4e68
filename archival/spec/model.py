"""The validated spec as frozen dataclasses: what every later stage reads. Built only from documents
that passed validation, so construction never fails on user input."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from archival.spec.values import Duration, QuietHours, SecretRef, parse_duration

Mode = Literal["full", "window", "incremental"]
Grain = Literal["day", "week", "month", "quarter", "year"]
OnInvalid = Literal["fail", "quarantine", "warn"]
PiiRule = Literal["drop", "hash", "mask"]
SourceType = Literal["postgres", "mysql", "sqlite"]
Platform = Literal["nocodb", "directus"]
ObjectLockMode = Literal["GOVERNANCE", "COMPLIANCE"]  # low-code apps whose metadata archival reads (archival/platform/)
FileFormat = Literal["parquet", "csv"]
Tier = Literal["hot", "cool", "cold"]
NullCursor = Literal["partition", "fail"]
Drift = Literal["evolve", "freeze"]
TargetType = Literal["local", "s3"]
RetentionEnd = Literal["keep", "delete"]
TlsMode = Literal["disable", "prefer", "require", "verify-ca", "verify-full"]


@dataclass(frozen=True)
class SpecLocation:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Retention:
    hot: Duration | None = None
    cool: Duration | None = None
    cold: Duration | None = None
    then: RetentionEnd = "keep"

    @property
    def total(self) -> timedelta:
        """From a period's end to the end of its last tier (its planned expiry with `then: delete`)."""
        return sum((d.delta for d in (self.hot, self.cool, self.cold) if d is not None), timedelta(0))


@dataclass(frozen=True)
class Purge:
    """`purge:` of a table: delete archived rows from the source once the archive provably holds them
    (archival/purge/, docs/purge.md)."""

    after: Duration  # a period is due once its end is this far behind the purge's as-of
    batch_rows: int = 5000
    pause: Duration = field(default_factory=lambda: parse_duration("1s"))
    max_rows_per_run: int | None = None
    lock_timeout: Duration = field(default_factory=lambda: parse_duration("5s"))
    statement_timeout: Duration = field(default_factory=lambda: parse_duration("60s"))
    max_replica_lag: Duration | None = None  # PostgreSQL: wait between batches while a replica lags more


@dataclass(frozen=True)
class Column:
    name: str
    type: str | None = None
    nullable: bool = True
    unique: bool = False
    allowed: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    regex: str | None = None
    max_length: int | None = None
    pii: PiiRule | None = None
    checks: tuple[str, ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class Table:
    domain: str
    name: str
    relation: str
    primary_key: tuple[str, ...]
    mode: Mode
    cursor: tuple[str, ...]
    period: Grain | None  # None for mode full
    lag: Duration
    lookback: Duration
    on_invalid: OnInvalid
    null_cursor: NullCursor
    drift: Drift
    timezone: str  # zone that naive timestamps hold
    since: date | datetime  # earliest plausible cursor value (dates and naive instants: the domain's zone)
    format: FileFormat
    tier: Tier
    retention: Retention
    columns: tuple[Column, ...] = ()
    tags: tuple[str, ...] = ()
    description: str | None = None
    location: SpecLocation | None = field(default=None, compare=False)
    purge: Purge | None = None  # not content: which rows stay in the source changes nothing archived
    reconcile_after_run: bool = False  # `reconcile: after_run`: a run compares the periods it wrote with the source

    @property
    def qualified_name(self) -> str:
        return f"{self.domain}.{self.name}"

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class Relation:
    from_table: str
    from_column: str
    to_table: str
    to_column: str


@dataclass(frozen=True)
class Schedule:
    cron: str
    timezone: str = "UTC"


@dataclass(frozen=True)
class Domain:
    name: str
    owner: str
    source: str
    tables: tuple[Table, ...]
    file: str
    description: str | None = None
    schedule: Schedule | None = None
    quiet_hours: tuple[QuietHours, ...] = ()
    relations: tuple[Relation, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def timezone(self) -> str:
        """The zone of the period calendar and the quiet hours."""
        return self.schedule.timezone if self.schedule else "UTC"

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)

    def quiet_hours_at(self, now: datetime) -> QuietHours | None:
        """The quiet-hours range that `now` falls in (the domain's time zone), or None."""
        local = now.astimezone(ZoneInfo(self.timezone)).time()
        return next((window for window in self.quiet_hours if window.contains(local)), None)


@dataclass(frozen=True)
class Source:
    name: str
    type: SourceType
    dsn: SecretRef | str | None = None  # a SecretRef, or a literal DSN proven to hold no password
    path: str | None = None
    timezone: str = "UTC"
    max_parallel: int | None = None
    platform: Platform | None = None  # the app that owns the database: validate --connect compares specs with it
    purge_dsn: SecretRef | str | None = None  # the only credential that may DELETE (archival purge)
    tls: TlsMode | None = None  # None: require for a host that is not loopback, prefer for loopback
    tls_ca: str | None = None  # CA bundle (PEM) that verify-ca/verify-full check the server against

@dataclass(frozen=True)
class Target:
    name: str
    type: TargetType
    path: str | None = None
    bucket: str | None = None
    prefix: str | None = None
    credentials: SecretRef | None = None
    endpoint_url: str | None = None
    region: str | None = None
    storage_classes: dict[str, str] = field(default_factory=dict)  # S3: tier -> storage class, over the defaults
    tiers: dict[str, str] = field(default_factory=dict)  # local: tier -> folder that holds its periods
    object_lock: ObjectLockMode | None = None  # S3: lock data files until their planned expiry
    sse_kms_key_id: str | None = None  # S3: SSE-KMS with this key on every write (`encryption:`)
    parquet_key: str | None = None  # Parquet modular encryption: the master key reference (kms:KEY, env:NAME...)
    kms_endpoint_url: str | None = None
    kms_region: str | None = None


@dataclass(frozen=True)
class Limits:
    max_parallel_per_source: int = 2
    max_rows_per_run: int | None = None
    max_bytes_per_run: int | None = None
    pause_source_after: int = 2  # failed work items in a row before a source's other units wait (run/breaker.py)
    parallel_reads: int = 1  # connections one large PostgreSQL unit reads key ranges on (extract/ranges.py)
    parallel_min_rows: int = 1_000_000  # units with fewer rows read on one connection


@dataclass(frozen=True)
class Prices:
    """What storage costs, per tier (`costs:` in archival.yaml)."""

    currency: str = "USD"
    taken: str = "2025-01, AWS S3 us-east-1 list prices (archival's defaults)"
    storage_gb_month: dict[str, float] = field(default_factory=lambda: {"hot": 0.023, "cool": 0.0125, "cold": 0.004})
    transition_per_1000: dict[str, float] = field(default_factory=lambda: {"cool": 0.01, "cold": 0.02})
    retrieval_gb: dict[str, float] = field(default_factory=lambda: {"cool": 0.01, "cold": 0.03})


@dataclass(frozen=True)
class LineageTarget:
    """`lineage:` in archival.yaml: OpenLineage events also go to this HTTP endpoint (Marquez, ...)."""

    url: str
    endpoint: str = "api/v1/lineage"
    api_key: SecretRef | None = None


@dataclass(frozen=True)
class Project:
    name: str
    root: Path
    sources: dict[str, Source]
    targets: dict[str, Target]
    default_target: str
    limits: Limits
    domains: tuple[Domain, ...]
    pii_hash_key: SecretRef | None = None
    costs: Prices | None = None  # archival cost; None: the documented defaults
    lineage: LineageTarget | None = None  # besides the archive's own _lineage/

    def domain(self, name: str) -> Domain | None:
        return next((d for d in self.domains if d.name == name), None)

    def source_of(self, domain: Domain) -> Source:
        return self.sources[domain.source]

    def source_of_table(self, table: Table) -> Source:
        domain = self.domain(table.domain)
        if domain is None:
            raise KeyError(f"table {table.qualified_name} has no domain {table.domain!r} in project {self.name}")
        return self.source_of(domain)


DEFAULT_SINCE = date(1970, 1, 1)

# Fields that change what lands in the archive. Lag, lookback, tier, retention, tags and prose do
# not: changing them must not mark every archived period as changed.
_CONTENT_FIELDS = ("relation", "primary_key", "mode", "cursor", "period", "on_invalid", "null_cursor",
                   "timezone", "format", "columns")


def table_fingerprint(table: Table, source: Source) -> str:
    """sha256 of the table spec as it affects archived content (recorded in every manifest)."""
    data = {k: v for k, v in asdict(table).items() if k in _CONTENT_FIELDS}
    data["columns"] = [{k: v for k, v in c.items() if k != "description"} for c in data["columns"]]
    if table.since != DEFAULT_SINCE:  # set only when not the default: archives from before `since` existed keep theirs
        data["since"] = table.since.isoformat()
    data["source"] = {"name": source.name, "type": source.type}
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()

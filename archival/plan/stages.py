"""The export of one unit as a list of named stages (SQLMesh's plan style): plain frozen dataclasses
that say what each step does and with which settings. The plan stores the list on each ExportUnit;
`archival plan -v` renders it and the executor (archival/run/unit.py) runs exactly that list:

    snapshot -> read -> [versions] -> [departures] -> contract -> [pii] -> [replace] -> fingerprint -> parts -> record

`snapshot` opens the unit's source transaction; the stages between it and `record` form a stream
that every batch of rows passes in order; `record` publishes what the stream produced."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from archival.checksums import ALGORITHM as JSON_MD5
from archival.checksums import FingerprintAlgorithm
from archival.spec.model import FileFormat, OnInvalid, PiiRule, SourceType


@dataclass(frozen=True)
class Snapshot:
    """One source transaction: count the unit's rows, choose each column's archive type
    (source/types.py), stream the rows in key order. `shared`: the run's snapshot of the source."""

    engine: SourceType
    relation: str
    rows: str
    shared: bool = False
    clustered: bool = False  # MySQL, a whole table keyed by one integer: the clustered index's order first

    def describe(self) -> str:
        how = ", in the run's shared snapshot" if self.shared else ""
        order = ", clustered-index order if it holds" if self.clustered else ""
        return f"snapshot: {self.engine} {self.relation}, {self.rows}{how}{order}"


@dataclass(frozen=True)
class Read:
    """Count the rows read and their largest cursor value; for a window period also the checksum of
    their keys (the plan compares it with the source's next time)."""

    key_checksum: bool = False

    def describe(self) -> str:
        return "read: count rows" + (", key checksum" if self.key_checksum else "")


@dataclass(frozen=True)
class VersionFilter:
    """Only row versions (key, cursor value) that the period does not hold yet, archived or set
    aside, go on: the period is extended by a new part, nothing archived is rewritten."""

    since: datetime | None = None

    def describe(self) -> str:
        return "versions: only versions the period lacks" + (f" (since {self.since.isoformat()})"
                                                             if self.since else "")


@dataclass(frozen=True)
class Replace:
    """A refresh of a period archived under this spec (plan/refresh.py): every source row is read,
    replaces the archived version it matches (key, cursor value) and adds the ones the period lacks;
    archived versions the source no longer has are kept. The period's files are written anew as the
    next version, only if its rows differ; tombstones and quarantine carry over."""

    def describe(self) -> str:
        return "replace: source rows replace the versions they match, archived versions the source lacks are kept"


@dataclass(frozen=True)
class Departures:
    """Keys that left the source become tombstones: of the period (window mode) or of the whole
    table (incremental: a key moves between periods as it is updated)."""

    scope: Literal["period", "table"]

    def describe(self) -> str:
        return f"departures: tombstones for keys that left the {self.scope}"


@dataclass(frozen=True)
class Contract:
    """The primary key (unique, not NULL) and the spec's column checks, with `on_invalid` deciding
    what a breaking row does; `reject_all`: every row is out of range (`period=out_of_range`)."""

    key: tuple[str, ...]
    checked: tuple[str, ...]
    on_invalid: OnInvalid
    reject_all: bool = False

    def describe(self) -> str:
        checks = f", checks on {', '.join(self.checked)}" if self.checked else ""
        everything = ", every row out of range" if self.reject_all else ""
        return f"contract: key ({', '.join(self.key)}) unique and not NULL{checks}{everything}, " \
               f"on_invalid {self.on_invalid}"


@dataclass(frozen=True)
class Pii:
    """Hash (keyed HMAC) or mask columns before anything touches disk; `drop` columns are never read."""

    rules: tuple[tuple[str, PiiRule], ...]

    def describe(self) -> str:
        return "pii: " + ", ".join(f"{name} {rule}" for name, rule in self.rules)


@dataclass(frozen=True)
class Fingerprint:
    """`kept`: the algorithm is the period's own (a delta extends its sums) or the only one for the
    format; else the newest, which a unit whose columns are nested or intervals cannot use."""

    algorithm: FingerprintAlgorithm = JSON_MD5
    kept: bool = True

    def describe(self) -> str:
        if self.kept:
            return f"fingerprint: {self.algorithm}"
        return f"fingerprint: {self.algorithm} (sum-md5-json-v1 if a column is nested or an interval)"


@dataclass(frozen=True)
class Parts:
    """Deterministic part files (same rows, same bytes), named by their content once complete."""

    format: FileFormat

    def describe(self) -> str:
        return f"parts: {self.format}"


@dataclass(frozen=True)
class Record:
    """The commit, as a state machine a rerun can finish from any crash: publish the parts, set aside
    files no manifest will name, write the next manifest version, append the audit entry, lineage."""

    steps: tuple[str, ...] = ("parts", "orphans", "manifest", "audit", "lineage")

    def describe(self) -> str:
        return "record: " + ", ".join(self.steps)


Stage = Snapshot | Read | VersionFilter | Departures | Contract | Pii | Replace | Fingerprint | Parts | Record
STREAM = (Read, VersionFilter, Departures, Contract, Pii, Replace, Fingerprint, Parts)  # between snapshot and record


def stage_name(stage: Stage) -> str:
    """The stage's name, as the plan shows it and the stage clock counts it."""
    return stage.describe().split(":", 1)[0]


def render_stages(stages: tuple[Stage, ...]) -> str:
    return " -> ".join(stage_name(s) for s in stages)

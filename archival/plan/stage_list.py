"""The stage list of one unit, decided at plan time from the unit, its table and its source (the
list `archival plan -v` prints is the list the executor runs)."""

from __future__ import annotations

from archival.checksums import ALGORITHM as JSON_MD5
from archival.plan.stages import (
    Contract,
    Departures,
    Fingerprint,
    Parts,
    Pii,
    Read,
    Record,
    Replace,
    Snapshot,
    Stage,
    VersionFilter,
)
from archival.plan.units import NULL_PERIOD, OUT_OF_RANGE, SPECIAL_PERIODS, ExportUnit
from archival.spec.model import Domain, Source, Table


def shared_transaction(domain: Domain, table: Table, source: Source) -> str | None:
    """The group of units read in one transaction on one connection: the tables of a domain that its
    `relations:` link, on MySQL/MariaDB and SQLite (PostgreSQL shares one exported snapshot across
    all units of a run instead, on as many connections as the limits allow)."""
    if source.type == "postgres":
        return None
    linked = {name for r in domain.relations for name in (r.from_table, r.to_table)}
    return f"{domain.name}:{source.name}" if table.name in linked else None


def _rows(unit: ExportUnit) -> str:
    if unit.period == NULL_PERIOD:
        return "rows whose cursor is NULL"
    if unit.window is None:
        return "the whole table"
    bounds = f"[{unit.window.start.isoformat()}, {unit.window.end.isoformat()})"
    return f"cursor outside {bounds}" if unit.period == OUT_OF_RANGE else f"cursor in {bounds}"


def stages_for(unit: ExportUnit, table: Table, source: Source) -> tuple[Stage, ...]:
    calendar = unit.period not in SPECIAL_PERIODS
    stages: list[Stage] = [
        Snapshot(source.type, table.relation, _rows(unit), shared=source.type == "postgres"
                 or unit.shared_transaction is not None,
                 clustered=source.type == "mysql" and unit.window is None and calendar and len(table.primary_key) == 1),
        Read(key_checksum=unit.mode == "window" and calendar),
    ]
    if unit.delta:
        stages.append(VersionFilter(unit.window.start if unit.mode == "incremental" and unit.window else None))
    if (unit.delta or unit.rewrite) and unit.mode == "window":
        stages.append(Departures("period"))
    elif unit.detect_deletes:
        stages.append(Departures("table"))
    checked = tuple(c.name for c in table.columns if c.pii != "drop" and (
        c.type or not c.nullable or c.unique or c.allowed is not None or c.min is not None or c.max is not None
        or c.regex or c.max_length is not None or c.checks))
    stages.append(Contract(table.primary_key, checked, table.on_invalid, reject_all=unit.period == OUT_OF_RANGE))
    rules = tuple((c.name, c.pii) for c in table.columns if c.pii in ("hash", "mask"))
    if rules:
        stages.append(Pii(rules))
    if unit.rewrite:
        stages.append(Replace())
    stages += [Fingerprint(unit.fingerprint_algorithm, kept=unit.fingerprint_algorithm == JSON_MD5 or unit.delta),
               Parts(table.format), Record()]
    return tuple(stages)

"""Where a restore writes: a PostgreSQL or MySQL/MariaDB database named by a secret reference (or a
DSN without a password), or a SQLite file. Never a DSN in messages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from archival.source.secrets import SecretError, resolve
from archival.spec.model import Source, SourceType
from archival.spec.values import SECRET_HINT, dsn_has_password, parse_secret_ref


class TargetUsage(ValueError):
    """A `--to` that cannot be used (bad usage: exit 2)."""


@dataclass(frozen=True)
class RestoreTarget:
    engine: SourceType
    source: Source  # attached like a source, read-write
    label: str  # what messages call it

    @property
    def native(self) -> bool:
        """DDL runs in the engine's own dialect (PostgreSQL, MySQL); SQLite takes DuckDB's."""
        return self.engine != "sqlite"


def _engine_of(dsn: str) -> SourceType | None:
    if re.match(r"^postgres(ql)?://", dsn) or re.search(r"(^|\s)dbname\s*=", dsn):
        return "postgres"
    if dsn.startswith("mysql://") or re.search(r"(^|\s)(database|db)\s*=", dsn):
        return "mysql"
    return None


def parse_target(value: str, engine: SourceType | None = None) -> RestoreTarget:
    """`env:NAME` / `prefect-secret:NAME` (a DSN), a DSN without a password, or a SQLite file path."""
    try:
        ref = parse_secret_ref(value)
    except ValueError:
        ref = None
    if ref is None and engine != "postgres" and engine != "mysql" and "=" not in value and "://" not in value:
        return RestoreTarget("sqlite", Source("restore target", "sqlite", path=str(Path(value).resolve())),
                             f"sqlite file {value}")
    if ref is None and dsn_has_password(value):
        raise TargetUsage(f"--to holds a password: {SECRET_HINT}")
    try:
        dsn = resolve(ref, "--to").value if ref else value
    except SecretError as exc:
        raise TargetUsage(str(exc)) from None
    found = engine or _engine_of(dsn)
    if found is None:
        raise TargetUsage("--to: cannot tell whether the DSN is PostgreSQL or MySQL; add --to-type postgres|mysql")
    label = f"{found} database ({value})" if ref else f"{found} database"
    return RestoreTarget(found, Source("restore target", found, dsn=ref or dsn), label)

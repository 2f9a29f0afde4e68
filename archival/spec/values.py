"""Parsers for the small value languages of a spec: durations, cron, time zones, secret references,
column types and identifiers. Each returns a parsed value or raises ValueError with a message for the
user; the Cerberus rules (rules.py) call them through `check_with`, and the model reuses the parsers."""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Literal
from urllib.parse import urlsplit

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
PROJECT_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
# Physical column names: low-code apps derive them from field titles (`Hire_Date`, `First Name`,
# `E-Mail`, `Größe`), so any text of at most 63 characters without control characters or surrounding
# blanks; archival.sql quotes every identifier it writes for the engine at hand, quotes included.
IDENTIFIER_PATTERN = r"^[^\x00-\x20\x7f]([^\x00-\x1f\x7f]{0,61}[^\x00-\x20\x7f])?$"
# Relations keep the strict form: `schema.table` is split at the dot.
RELATION_PATTERN = r"^[A-Za-z_][A-Za-z0-9_$]{0,62}(\.[A-Za-z_][A-Za-z0-9_$]{0,62})?$"
DURATION_PATTERN = r"^[0-9]+(s|m|h|d|w|y)$"
QUIET_HOURS_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-4]):[0-5][0-9]$"
SECRET_REF_PATTERN = (r"^(env:[A-Za-z_][A-Za-z0-9_]*|prefect-secret:[a-z0-9][a-z0-9-]*"
                      r"|prefect-block:[a-z0-9][a-z0-9-]*/[a-z0-9][a-z0-9-]*)$")
# a master key of Parquet encryption: a secret reference (a local key) or an AWS KMS key (id, ARN, alias)
MASTER_KEY_PATTERN = SECRET_REF_PATTERN[:-2] + r"|kms:[A-Za-z0-9:/_+=,.@-]+)$"
COLUMN_TYPE_PATTERN = (
    r"^(int8|int16|int32|int64|float32|float64|decimal\([0-9]{1,2},[0-9]{1,2}\)|string|boolean|date"
    r"|timestamp|timestamptz|time|json|uuid|binary)$"
)

INSTANT_PATTERN = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
INSTANT_HINT = "a date or an ISO 8601 instant, e.g. 2020-01-01 or 2020-01-01T00:00:00Z"
DURATION_HINT = "write a whole number and a unit: 30s, 15m, 1h, 1d, 2w, 1y (s m h d w y; 1y = 365d)"
CRON_HINT = 'five fields "minute hour day-of-month month day-of-week", quoted, e.g. "0 2 * * *"'
SECRET_HINT = ("write a reference, never the secret: env:NAME, prefect-secret:NAME or "
               "prefect-block:TYPE/NAME (e.g. env:SALES_DB_DSN)")
TYPE_HINT = ("one of int8 int16 int32 int64 float32 float64 decimal(P,S) string boolean date time "
             "timestamp timestamptz json uuid binary")

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


@dataclass(frozen=True)
class Duration:
    text: str
    seconds: int

    @property
    def delta(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    def __str__(self) -> str:
        return self.text


def parse_duration(value: str) -> Duration:
    if not isinstance(value, str) or not re.match(DURATION_PATTERN, value):
        raise ValueError(f"'{value}' is not a duration")
    return Duration(value, int(value[:-1]) * _UNIT_SECONDS[value[-1]])


def parse_instant(value: object) -> date | datetime:
    """A date or a datetime (YAML gives both unquoted; a quoted one arrives as text)."""
    if isinstance(value, date):  # datetime is a date too
        return value
    if not isinstance(value, str) or not re.match(INSTANT_PATTERN, value):
        raise ValueError(f"'{value}' is not a date or an instant")
    text = value.replace("Z", "+00:00")
    return datetime.fromisoformat(text) if len(text) > 10 else date.fromisoformat(text)


def check_cron(value: str) -> str:
    from croniter import croniter  # imported lazily: validation of other keys must not pay for it

    fields = value.split() if isinstance(value, str) else []
    if len(fields) != 5:
        raise ValueError(f"cron expression '{value}' has {len(fields)} fields, expected 5")
    if not croniter.is_valid(value):
        raise ValueError(f"'{value}' is not a valid cron expression")
    return value


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(value: str) -> zoneinfo.ZoneInfo:
    if value not in _zones():
        raise ValueError(f"unknown time zone '{value}'")
    return zoneinfo.ZoneInfo(value)


def timezone_names() -> list[str]:
    return sorted(_zones())


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time  # may be earlier than start: the window wraps past midnight

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{'24:00' if self.end == time.max else f'{self.end:%H:%M}'}"


def parse_quiet_hours(value: str) -> QuietHours:
    if not isinstance(value, str) or not re.match(QUIET_HOURS_PATTERN, value):
        raise ValueError(f"'{value}' is not a time range")
    a, b = value.split("-")
    if a == b:
        raise ValueError(f"quiet hours '{value}' start and end at the same minute")
    end = time.max if b == "24:00" else time.fromisoformat(b)
    return QuietHours(time.fromisoformat(a), end)


SecretKind = Literal["env", "prefect-secret", "prefect-block"]


@dataclass(frozen=True)
class SecretRef:
    """Where a secret lives. Holds the reference only; resolving it is the source stage's job."""

    kind: SecretKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


def parse_secret_ref(value: str) -> SecretRef:
    if not isinstance(value, str) or not re.match(SECRET_REF_PATTERN, value):
        raise ValueError("not a secret reference")
    kind, _, name = value.partition(":")
    return SecretRef(kind, name)  # type: ignore[arg-type]


_KV_PASSWORD = re.compile(r"(^|[\s;])(password|pwd|passwd)\s*=", re.IGNORECASE)


def dsn_has_password(value: str) -> bool:
    """True when a literal DSN carries a password (URI `user:pw@` or key-value `password=`)."""
    if _KV_PASSWORD.search(value):
        return True
    if "://" in value:
        try:
            return urlsplit(value).password is not None
        except ValueError:
            return True  # unparsable URI: refuse rather than risk echoing a secret
    return False


def is_secret_ref(value: str) -> bool:
    return isinstance(value, str) and re.match(SECRET_REF_PATTERN, value) is not None


def looks_like_secret_ref(value: str) -> bool:
    return isinstance(value, str) and value.split(":", 1)[0] in ("env", "prefect-secret", "prefect-block")

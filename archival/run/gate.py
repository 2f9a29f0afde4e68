"""Whether a unit may start now: quiet hours (never start extracting inside them, in the domain's
time zone) and per-run quotas (rows and bytes; what does not fit waits for the next run, in period
order, so a backlog drains at a predictable pace). Deferred units are reported, never dropped."""

from __future__ import annotations

import threading
from datetime import datetime

from archival.spec.model import Domain, Limits


def in_quiet_hours(domain: Domain, now: datetime) -> str | None:
    """The quiet-hours range that `now` falls in (domain time zone), or None."""
    window = domain.quiet_hours_at(now)
    return str(window) if window else None


class Quota:
    """Counts what units wrote; once a limit is reached, units that have not started are deferred."""

    def __init__(self, limits: Limits):
        self.max_rows, self.max_bytes = limits.max_rows_per_run, limits.max_bytes_per_run
        self.rows = self.bytes = 0
        self._lock = threading.Lock()

    @property
    def limited(self) -> bool:
        return self.max_rows is not None or self.max_bytes is not None

    def exhausted(self) -> str | None:
        with self._lock:
            if self.max_rows is not None and self.rows >= self.max_rows:
                return f"max_rows_per_run {self.max_rows:,} reached ({self.rows:,} rows written)"
            if self.max_bytes is not None and self.bytes >= self.max_bytes:
                return f"max_bytes_per_run {self.max_bytes:,} reached ({self.bytes:,} bytes written)"
            return None

    def add(self, rows: int, size: int) -> None:
        with self._lock:
            self.rows += rows
            self.bytes += size

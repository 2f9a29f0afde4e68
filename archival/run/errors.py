"""Transient or systemic? Transient failures (a dropped connection, a timeout, S3 5xx/429, too many
connections) are retried with backoff; systemic ones (bad spec, auth, conflicts, integrity, disk
full) fail at once with a hint, because retrying cannot help and may hide the cause."""

from __future__ import annotations

import errno
from typing import Literal

from archival.archive.store import ArchiveConflict
from archival.plan.units import ExportUnit, UnitResult
from archival.run.interrupt import Interrupted
from archival.source.secrets import SecretError
from archival.source.transient import TRANSIENT_WORDS as _TRANSIENT_WORDS

ErrorClass = Literal["transient", "systemic"]

_SYSTEMIC_WORDS = ("password authentication failed", "access denied", "permission denied", "does not exist",
                   "no space left")


class DiskFull(Exception):
    """A unit ran out of space in its scratch folder: the message names the folder and what to do."""


def disk_full(exc: BaseException) -> bool:
    """ENOSPC, however it arrives: an OSError, or the text of a pyarrow or DuckDB I/O error."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return "no space left on device" in str(exc).lower() or "disk quota exceeded" in str(exc).lower()


def classify(exc: BaseException) -> ErrorClass:
    if isinstance(exc, ArchiveConflict | SecretError | DiskFull | Interrupted):
        return "systemic"
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "systemic"
    if isinstance(exc, ConnectionError | TimeoutError):
        return "transient"
    text = str(exc).lower()
    if "failed to prepare copy" in text and text.rstrip().endswith(":"):
        return "transient"  # DuckDB's PostgreSQL scanner: libpq lost the connection and gave no reason
    if any(word in text for word in _SYSTEMIC_WORDS):
        return "systemic"
    if any(word in text for word in _TRANSIENT_WORDS):
        return "transient"
    status = getattr(exc, "response", {}) or {}
    code = status.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) if isinstance(status, dict) else 0
    if code == 429 or code >= 500:
        return "transient"
    return "systemic"


def failed_result(unit: ExportUnit, exc: BaseException, seconds: float, error_class: ErrorClass) -> UnitResult:
    """The result that records a unit's failure (its error, and whether a retry could help)."""
    return UnitResult(unit.id, "failed", seconds=seconds, error=f"{type(exc).__name__}: {exc}",
                      error_class=error_class)

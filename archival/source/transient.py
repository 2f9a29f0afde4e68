"""Words of the errors that a retry can cure (a dropped connection, a timeout, S3 throttling): the
run retries units that fail with them (run/errors.py) and the plan's probe asks again."""

from __future__ import annotations

TRANSIENT_WORDS = (
    "connection reset", "connection refused", "server closed the connection", "terminating connection",
    "could not connect", "connection timed out", "timeout", "timed out", "lost connection", "gone away",
    "too many connections", "remaining connection slots", "lock wait timeout", "deadlock detected",
    "broken pipe", "temporarily unavailable", "throttl", "slowdown", "internal error", "service unavailable",
    "unable to connect", "connection to server", "ssl syscall", "canceling statement due to conflict",
)


def transient(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in TRANSIENT_WORDS)

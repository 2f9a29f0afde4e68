"""Errors an operator can cause and fix, and how a run reports them: a line or two naming the cause and
the fix, an exit status (2: bad usage, spec or configuration; 1: the job could not be done), and no
traceback. The flow returns them as a Failed state (Prefect logs one line for it, not a traceback);
the CLI prints them."""

from __future__ import annotations

from archival.archive.audit_log import AuditChainError
from archival.archive.locks import LockHeld
from archival.archive.state import ArchiveStateError
from archival.archive.store import ArchiveUnavailable
from archival.archive.targets import TargetError
from archival.plan.refresh import NothingToRefresh
from archival.source.secrets import SecretError
from archival.spec.errors import SpecErrors
from archival.spec.select import SelectorError


class PlanRefused(Exception):
    """The plan has errors (exit 2): nothing was run."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


class RunRefused(Exception):
    """A run that ended on an error an operator can fix: what to print, and the exit status."""

    def __init__(self, lines: list[str], code: int):
        self.lines, self.code = lines, code
        super().__init__("; ".join(lines))

    def __reduce__(self):  # travels in a Prefect state
        return (RunRefused, (self.lines, self.code))


def refusal(exc: BaseException) -> RunRefused | None:
    """The refusal for a known error, or None for anything else (which keeps its traceback)."""
    if isinstance(exc, PlanRefused):
        return RunRefused(exc.problems, 2)
    if isinstance(exc, SpecErrors):
        return RunRefused([exc.render()], 2)
    if isinstance(exc, SelectorError | TargetError | SecretError | NothingToRefresh):
        return RunRefused([f"archival run: {exc}"], 2)
    if isinstance(exc, LockHeld | ArchiveUnavailable | ArchiveStateError | AuditChainError):
        return RunRefused([f"archival run: {exc}"], 1)
    return None

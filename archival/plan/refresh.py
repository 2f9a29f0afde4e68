"""A refresh asked for on purpose (`archival run --refresh`, `archival reconcile --repair`): archived
periods re-read from the source whatever the plan would otherwise decide, written as a new manifest
version when their rows differ, each new version audited with the reason.

A period archived under the current spec is rewritten by version identity: the source's rows replace
the archived versions they match (primary key, cursor value), and archived versions the source no
longer has are kept, so history and deleted rows stay (plan/stages.py: Replace). Full tables and the
special periods are re-read every run already; a refresh only adds the reason to their audit entry."""

from __future__ import annotations

from dataclasses import dataclass

from archival.archive.state import ArchivedPeriod


class NothingToRefresh(ValueError):
    """A refresh names a period that is not archived (bad usage: exit 2)."""


@dataclass(frozen=True)
class Refresh:
    reason: str
    units: tuple[str, ...] = ()  # unit ids (domain.table/period); empty: every archived period of the selection

    def periods(self, table: str, archived: dict[str, ArchivedPeriod]) -> frozenset[str]:
        """The archived periods of `table` (domain.table) this refresh re-reads."""
        if not self.units:
            return frozenset(archived)
        return frozenset(u.split("/", 1)[1] for u in self.units if u.split("/", 1)[0] == table) & set(archived)

    def check(self, archived: dict[str, dict[str, ArchivedPeriod]]) -> None:
        """Every named period must be archived: a typo must not read as "refreshed, nothing differed"."""
        missing = [u for u in self.units if u.split("/", 1)[1] not in archived.get(u.split("/", 1)[0], {})]
        if missing:
            raise NothingToRefresh(f"not archived, nothing to refresh: {', '.join(missing[:5])}"
                                   + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""))
        if not any(archived.values()):
            raise NothingToRefresh("no selected table has an archived period: nothing to refresh")

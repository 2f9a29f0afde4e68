"""A table's archived rows at one moment, the one place that knows how manifest versions, modes,
row versions and tombstones make up "the rows" (restore, the query views and reconcile's readers
agree through it):

- which files: per period, the manifest version current now, or the one current at an instant (the
  newest version whose run had run by then: the run record's `as_of`, else the manifest's
  `created_at`); older versions' files and stray files in the folders are never read;
- which rows: `current` keeps each key's latest version (by cursor: incremental tables keep every
  version) and drops keys tombstoned in those versions; `versions` keeps every row of every manifest
  version up to then (a full table's earlier snapshots, a rewritten period's earlier files), each file
  once, with its period and the manifest version that first held it (tombstones not applied)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from archival.archive.manifest import Expiry, Manifest, read_manifest
from archival.archive.read import ArchiveReader, duckdb_type, rows_sql
from archival.archive.s3 import RETRIEVAL_CLASSES, S3Store
from archival.archive.state import manifest_versions
from archival.archive.store import ArchiveStore, file_sha256
from archival.source.cursor import cursor_expr
from archival.sql import quote_ident, sql_literal

View = Literal["current", "versions"]


class ArchiveDamaged(Exception):
    """A file does not hold the bytes its manifest names: nothing read from it is used."""


def run_times(store: ArchiveStore) -> dict[str, datetime]:
    """run id -> the instant the run ran as of (its run record)."""
    times = {}
    for path in store.list("_runs"):
        if path.endswith(".json"):
            record = json.loads(store.read_bytes(path))
            if record.get("as_of") and record.get("run_id"):
                times[record["run_id"]] = datetime.fromisoformat(record["as_of"])
    return times


def written_at(manifest: Manifest, runs: dict[str, datetime]) -> datetime:
    return runs.get(manifest.run_id) or datetime.fromisoformat(manifest.created_at)


def history_at(store: ArchiveStore, domain: str, table: str, as_of: datetime | None,
               runs: dict[str, datetime] | None = None) -> dict[str, list[Manifest]]:
    """Per period, its manifest versions (oldest first) written by `as_of` (all, without one); a
    period none of whose versions had been written then is left out."""
    if as_of is not None and runs is None:
        runs = run_times(store)
    found = {}
    for period, versions in manifest_versions(store, domain, table).items():
        manifests = [read_manifest(store, versions[v]).manifest for v in sorted(versions)]
        if as_of is not None:
            manifests = [m for m in manifests if written_at(m, runs or {}) <= as_of]
        if manifests:
            found[period] = manifests
    return found


class NeedsRetrieval(Exception):
    """Files are in a storage class that must be retrieved before it can be read: the message says how."""


def check_readable(store: ArchiveStore, paths: Iterable[str], selector: str) -> None:
    """NeedsRetrieval when any of `paths` is in GLACIER or DEEP_ARCHIVE without a finished restore
    (only asked when the target maps a tier to such a class: one request per file)."""
    if not isinstance(store, S3Store) or not RETRIEVAL_CLASSES & set(store.classes.values()):
        return
    waiting = [p for p in paths if store.needs_retrieval(p)]
    if waiting:
        raise NeedsRetrieval(f"{len(waiting)} file(s) of {selector} are in a storage class that must be retrieved "
                             f"first (e.g. {waiting[0]}): run `archival retrieve -s {selector}` (add --period to "
                             "narrow it) and read again once S3 has restored them (hours for DEEP_ARCHIVE)")


def check_files(store: ArchiveStore, files: Iterable[tuple[str, str]], consequence: str = "nothing was loaded") -> None:
    """(path, sha256) of each file: ArchiveDamaged names the first whose bytes differ or that is missing
    (and says `consequence`)."""
    for path, sha in files:
        try:
            with store.local_copy(path) as local:
                actual = file_sha256(local)
        except (OSError, FileNotFoundError) as exc:
            raise ArchiveDamaged(f"{path}: cannot be read ({exc}); {consequence}") from None
        if actual != sha:
            raise ArchiveDamaged(f"{path}: its sha256 is {actual[:16]}..., its manifest says {sha[:16]}...: the file "
                                 f"is damaged; {consequence} (`archival verify` reports the archive's state)")


@dataclass(frozen=True)
class TableRows:
    """The files of a table's periods (one manifest each) and how to read them as rows."""

    key: tuple[str, ...]
    cursor: tuple[str, ...]
    mode: str
    history: dict[str, list[Manifest]]  # per period, its manifest versions up to the instant, oldest first
    expired: dict[str, Expiry] = field(default_factory=dict)  # periods whose retention ended them by then

    @property
    def manifests(self) -> dict[str, Manifest]:
        """Per period, the manifest version current at the instant."""
        return {period: versions[-1] for period, versions in self.history.items()}

    @property
    def columns(self) -> list[tuple[str, str]]:
        """(name, archive type) of every column any of the files holds, the latest manifest's first."""
        seen: dict[str, str] = {}
        for period in sorted(self.history, reverse=True):
            for manifest in reversed(self.history[period]):
                for column in [*manifest.columns, *(c for f in manifest.files for c in f.columns or [])]:
                    seen.setdefault(column.name, column.type)
        return list(seen.items())

    def files(self, view: View = "current") -> list[tuple[str, str]]:
        """(path, sha256) of every file the view reads."""
        manifests = self.manifests.values() if view == "current" else [m for v in self.history.values() for m in v]
        return sorted({(f.path, f.sha256) for m in manifests for f in [*m.files, *m.tombstones]})

    def _parts(self, reader: ArchiveReader, con, view: View) -> list[str]:
        """Per period and manifest version, its files (`versions`: the ones no earlier version held)."""
        parts = []
        for period, versions in sorted(self.history.items()):
            seen: set[str] = set()
            for manifest in versions if view == "versions" else versions[-1:]:
                files = [f for f in reader.data([manifest]) if str(f.path) not in seen]
                seen.update(str(f.path) for f in files)
                if files:
                    parts.append(f"SELECT *, {sql_literal(period)} AS __period, {manifest.version} AS __version "
                                 f"FROM ({rows_sql(files, con=con)})")
        return parts

    def sql(self, reader: ArchiveReader, con, view: View = "current", periods: set[str] | None = None) -> str | None:
        """A DuckDB query over the rows, or None when no period holds a file; `con` runs it."""
        names = [name for name, _ in self.columns]
        projection = ", ".join(quote_ident(n) for n in names)
        parts = self._parts(reader, con, view)
        if not parts:
            return None
        rows = " UNION ALL BY NAME ".join(parts)
        wanted = f" WHERE __period IN ({', '.join(sql_literal(p) for p in sorted(periods))})" if periods else ""
        if view == "versions":
            return f"SELECT {projection}, __period, __version FROM ({rows}){wanted}"
        keys = ", ".join(quote_ident(k) for k in self.key)
        latest = f"SELECT * FROM ({rows})"
        if self.mode != "full":  # a key's newest version; a key lives in one row of a full snapshot
            order = f"{cursor_expr(self.cursor, quote_ident)} DESC NULLS LAST, __period DESC"
            latest += f" QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {order}) = 1"
        dead = reader.tombstones(self.manifests.values())
        if dead:
            on = " AND ".join(f"l.{quote_ident(k)} = d.{quote_ident(k)}" for k in self.key)
            latest = f"SELECT l.* FROM ({latest}) l ANTI JOIN ({rows_sql(dead, list(self.key), con=con)}) d ON {on}"
        return f"SELECT {projection} FROM ({latest}){wanted}"

    def typed(self) -> list[tuple[str, str]]:
        """(name, DuckDB type) of the columns."""
        return [(name, duckdb_type(kind)) for name, kind in self.columns]


def table_rows(store: ArchiveStore, domain: str, table: str, key: tuple[str, ...], cursor: tuple[str, ...],
               mode: str, as_of: datetime | None = None) -> TableRows:
    history = history_at(store, domain, table, as_of)
    ended = history if as_of is None else history_at(store, domain, table, None)  # expiry deletes every version
    expired = {p: ended[p][-1].expiry for p in history if ended[p][-1].expiry}
    return TableRows(key, cursor, mode, {p: v for p, v in history.items() if p not in expired}, expired)


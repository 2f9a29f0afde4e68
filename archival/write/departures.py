"""Hard deletes in incremental tables: keys the archive holds (latest versions, not yet tombstoned)
that the source no longer has. A key moves between periods as it is updated, so the comparison is
over the whole table. A cheap count first: only when the source's row count differs from the
archive's live keys are all source keys read and compared.

Counting the archive's distinct keys grows with the archive (5M keys: 0.34 s), so each check leaves a
key census in the manifest it publishes: the live keys once that manifest is current, and the basis,
a digest of the table's other current manifest paths (manifests are create-only, so a path names its
content). The next check whose archive is exactly that state starts from the census and only probes
its own new keys against the archive (0.05 s); any other state counts again."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa

from archival.archive.manifest import KeyCensus, StoredManifest
from archival.archive.read import ArchivedFile, rows_sql
from archival.source.duck import local_connection
from archival.sql import quote_ident
from archival.write.delta import VersionFilter


@dataclass(frozen=True)
class Departures:
    keys: pa.Table | None  # to tombstone; None when the counts show none left
    live: int | None  # live keys of the archive once this unit is published (the next census)


def census_basis(manifest_paths: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(manifest_paths)).encode()).hexdigest()


def valid_census(manifests: list[StoredManifest], purges: Iterable[str] = ()) -> int | None:
    """The live keys a census states for exactly these current manifests (and purge batches), if one does."""
    purges = list(purges)
    for stored in manifests:
        census = stored.manifest.key_census
        if census and census.basis == census_basis([*(m.path for m in manifests if m.path != stored.path), *purges]):
            return census.live
    return None


def next_census(departures: Departures, other_paths: Iterable[str], purges: Iterable[str] = ()) -> KeyCensus | None:
    """The census the publishing manifest carries: `other_paths` are the table's current manifests
    it does not replace; `purges` the purge batches it counted out (path and settled state)."""
    if departures.live is None:
        return None
    return KeyCensus(live=departures.live, basis=census_basis([*other_paths, *purges]))


def without_purged(keys: pa.Table | None, key: tuple[str, ...], purged: list[ArchivedFile]) -> pa.Table | None:
    """Keys that left the source, minus those `archival purge` took out: a purge is not a delete in
    the app, so it never becomes a tombstone."""
    if keys is None or not purged or keys.num_rows == 0:
        return keys
    cols = ", ".join(quote_ident(k) for k in key)
    with local_connection() as con:
        con.register("gone", keys)
        return con.execute(f"SELECT * FROM gone ANTI JOIN ({rows_sql(purged, list(key), con=con)}) USING ({cols}) "
                           f"ORDER BY {cols}").to_arrow_table()


def departed_keys(key: tuple[str, ...], archived: list[ArchivedFile], tombstones: list[ArchivedFile],
                  source_count: int, source_keys: Callable[[], pa.Table], new_keys: pa.Table | None,
                  census: int | None = None, purged: list[ArchivedFile] | None = None) -> Departures:
    """`new_keys`: keys this unit adds. `census`: live keys of exactly these archived and tombstone
    files (and purge records), if a valid census says so. `purged`: key files of `archival purge`:
    those keys are not live in the source, and not departed either."""
    if not archived:
        return Departures(None, None)
    tombstones = [*tombstones, *(purged or [])]  # out of the live count, never tombstoned again
    cols = ", ".join(quote_ident(k) for k in key)
    con = local_connection()
    try:
        keyed = f"({rows_sql(archived, list(key), con=con)})"
        dead = f"({rows_sql(tombstones, list(key), con=con)})" if tombstones else None
        # the common case costs counts only: the census, or distinct archived keys minus tombstoned ones
        # (always archived keys); plus keys new in this unit (a hash of the few new keys probed by one scan)
        if census is None:
            distinct = f"count(DISTINCT {cols})" if len(key) == 1 else f"count(DISTINCT ({cols}))"
            live = con.execute(f"SELECT {distinct} FROM {keyed}").fetchone()[0]
            if dead:
                live -= con.execute(f"SELECT {distinct} FROM {dead}").fetchone()[0]
        else:
            live = census
        if new_keys is not None and new_keys.num_rows:
            con.register("new_keys", new_keys)
            live += con.execute(f"SELECT count(*) FROM (SELECT DISTINCT {cols} FROM new_keys) ANTI JOIN "
                                f"(SELECT {cols} FROM {keyed}) USING ({cols})").fetchone()[0]
        if live == source_count:
            return Departures(None, live)  # every archived live key can still be in the source: nothing left it
        keys = f"SELECT {cols} FROM {keyed}"
        if new_keys is not None and new_keys.num_rows:
            keys += f" UNION SELECT {cols} FROM new_keys"
        if dead:
            keys = f"SELECT {cols} FROM ({keys}) ANTI JOIN {dead} USING ({cols})"
        con.register("source_keys", source_keys())
        gone = con.execute(f"SELECT DISTINCT {cols} FROM ({keys}) ANTI JOIN source_keys USING ({cols}) "
                           f"ORDER BY {cols}").to_arrow_table()
        return Departures(gone if gone.num_rows else None, live - gone.num_rows)
    finally:
        con.close()


class PeriodDepartures:
    """The `departures` stage of a window period: the keys the period holds that its source rows no
    longer have. Behind a `versions` stage, that stage saw every source key; in a refresh (no
    `versions` stage) this one collects them, with the period's archived and tombstone files."""

    name = "departures"

    def __init__(self, versions: VersionFilter | None, key: tuple[str, ...] = (),
                 archived: list[ArchivedFile] | None = None, tombstones: list[ArchivedFile] | None = None,
                 purged: list[ArchivedFile] | None = None):
        self.versions, self.key = versions, key
        self.archived, self.tombstones, self.purged = archived or [], tombstones or [], purged or []
        self.source_keys: list[pa.Table] = []
        self.found = Departures(None, None)

    def feed(self, batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
        if self.versions is None:
            self.source_keys.append(pa.Table.from_batches([batch]).select(list(self.key)))
        yield batch

    def finish(self) -> Iterator[pa.RecordBatch]:
        keys = self.versions.departed_keys() if self.versions is not None else self._departed()
        self.found = Departures(without_purged(keys, self.key, self.purged), None)
        return iter(())

    def _departed(self) -> pa.Table | None:
        if not self.archived:
            return None
        cols = ", ".join(quote_ident(k) for k in self.key)
        con = local_connection()
        try:
            gone = f"SELECT DISTINCT {cols} FROM ({rows_sql(self.archived, list(self.key), con=con)})"
            if self.source_keys:
                con.register("source_keys", pa.concat_tables(self.source_keys))
                gone += f" ANTI JOIN source_keys USING ({cols})"
            if self.tombstones:
                dead = rows_sql(self.tombstones, list(self.key), con=con)
                gone = f"SELECT {cols} FROM ({gone}) ANTI JOIN ({dead}) USING ({cols})"
            return con.execute(f"{gone} ORDER BY {cols}").to_arrow_table()
        finally:
            con.close()

    def close(self) -> None:
        pass


class TableDepartures:
    """The `departures` stage of an incremental table: a key moves between periods as it is updated,
    so the whole table's keys are compared (cheaply first: counts, then a census). `source` answers
    in the unit's snapshot: (count of all source rows, all source keys)."""

    name = "departures"

    def __init__(self, key: tuple[str, ...], archived: list[ArchivedFile], tombstones: list[ArchivedFile],
                 census: int | None, source_count: Callable[[], int], source_keys: Callable[[], pa.Table],
                 dated: Callable[[pa.Table], pa.Table] | None = None, purged: list[ArchivedFile] | None = None):
        """`dated`: adds when each departed key left, where the platform's audit trail says so.
        `purged`: key files of `archival purge` (archive/purges.py)."""
        self.key, self.archived, self.tombstones, self.census = key, archived, tombstones, census
        self.purged = purged or []
        self.source_count, self.source_keys, self.dated = source_count, source_keys, dated
        self.new_keys: list[pa.Table] = []
        self.found = Departures(None, None)

    def feed(self, batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
        self.new_keys.append(pa.Table.from_batches([batch]).select(list(self.key)))
        yield batch

    def finish(self) -> Iterator[pa.RecordBatch]:
        added = pa.concat_tables(self.new_keys) if self.new_keys else None
        found = departed_keys(self.key, self.archived, self.tombstones, self.source_count(), self.source_keys,
                              added, self.census, self.purged)
        if self.dated is not None and found.keys is not None and found.keys.num_rows:
            found = Departures(self.dated(found.keys), found.live)
        self.found = found
        return iter(())

    def close(self) -> None:
        pass

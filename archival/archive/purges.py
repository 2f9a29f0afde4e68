"""What `archival purge` took out of the sources, read back from its records (`_purges/`), so that
export and reconcile treat purged rows as purged, not as deleted in the app.

A batch's key file is written before its DELETE commits; the run's record (`_purges/<run_id>.json`,
written when the run ends, or by the next purge run when a run was killed) says which batches
committed. A batch that no record lists yet is unsettled: its keys may or may not have left the source."""

from __future__ import annotations

import json
import re
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from archival.archive import layout
from archival.archive.read import ArchivedFile, rows_sql
from archival.archive.store import ArchiveStore
from archival.checksums import key_checksum_sql
from archival.source.duck import local_connection
from archival.sql import quote_ident

_BATCH_RE = re.compile(r"^_purges/(?P<run>[^/]+)/(?P<domain>[^/]+)/(?P<table>[^/]+)/period=(?P<period>[^/]+)/"
                       r"batch-\d{5}\.parquet$")


@dataclass(frozen=True)
class PurgedBatch:
    path: str
    run_id: str
    period: str
    committed: bool | None  # None: unsettled (its run left no record yet)


def purge_records(store: ArchiveStore) -> dict[str, dict[str, Any]]:
    """path -> record, of every record under `_purges/`: runs' own (`<run_id>.json`) and settlements
    (`<run_id>.settled-<source>.json`: what a later run found of a killed run's batches)."""
    records = {}
    for path in store.list(layout.PURGES):
        if path.count("/") == 1 and path.endswith(".json"):
            records[path] = json.loads(store.read_bytes(path))
    return records


def purged_batches(store: ArchiveStore, domain: str, table: str,
                   records: dict[str, dict[str, Any]] | None = None) -> list[PurgedBatch]:
    records = purge_records(store) if records is None else records
    committed = {b["path"]: bool(b["committed"]) for r in records.values() for b in r.get("batches", [])}
    found = []
    for path in store.list(f"{layout.PURGES}/"):
        match = _BATCH_RE.match(path)
        if match and match["domain"] == domain and match["table"] == table:
            found.append(PurgedBatch(path, match["run"], match["period"], committed.get(path)))
    return sorted(found, key=lambda b: b.path)


def batch_files(store: ArchiveStore, stack: ExitStack, batches: list[PurgedBatch]) -> list[ArchivedFile]:
    files = []
    for batch in batches:
        local = stack.enter_context(store.local_copy(batch.path))
        files.append(ArchivedFile(local, "parquet", key=store.keys.unlock(local, shown=batch.path)))
    return files


@dataclass(frozen=True)
class PurgedPeriod:
    rows: int  # distinct keys purged from the period (committed batches)
    key_checksum: int  # their key checksum, unformatted (archival/checksums.py)


def purged_periods(store: ArchiveStore, domain: str, table: str, key: tuple[str, ...]) -> dict[str, PurgedPeriod]:
    """Per period, the keys committed purges took out of the source: a window period's source then
    holds its archived live keys minus these."""
    done = [b for b in purged_batches(store, domain, table) if b.committed]
    if not done:
        return {}
    cols = ", ".join(quote_ident(k) for k in key)
    result = {}
    with ExitStack() as stack:
        con = stack.enter_context(local_connection())
        for period in sorted({b.period for b in done}):
            files = batch_files(store, stack, [b for b in done if b.period == period])
            rows, checksum = con.execute(
                f"SELECT count(*), {key_checksum_sql(list(key), quote_ident)} FROM "
                f"(SELECT DISTINCT {cols} FROM ({rows_sql(files, con=con)}))").fetchone()
            result[period] = PurgedPeriod(int(rows), int(checksum))
    return result

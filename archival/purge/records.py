"""What a purge leaves in the archive: per batch, the keys it deletes (written create-only before
the DELETE commits), per run `_purges/<run_id>.json`, per period an audit entry. A run killed before
its record is settled by the next purge run: a batch committed exactly when none of its keys is left
in the source (one transaction deleted all of them or none)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from archival.archive import layout
from archival.archive.manifest import canonical_json, sha256_hex
from archival.archive.purges import purged_batches
from archival.archive.store import ArchiveStore, file_sha256
from archival.purge.keys import key_tuples
from archival.purge.session import PurgeSession
from archival.record import audit
from archival.spec.model import Table

SCHEMA_VERSION = 1


@dataclass
class BatchRecord:
    path: str
    sha256: str
    rows: int
    committed: bool


@dataclass
class PeriodOutcome:
    """One period of one table in one purge run."""

    table: str
    period: str
    manifest: str
    manifest_sha256: str
    eligible: int = 0  # source rows whose archived copy was equal when the period was read
    deleted: int = 0
    kept: dict[str, int] = field(default_factory=dict)  # reason -> rows
    keys_sha256: str | None = None  # of the deleted keys (a dry run: of the keys it would delete)
    key_range: list[Any] | None = None
    batches: list[BatchRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def keep(self, reason: str, rows: int) -> None:
        if rows:
            self.kept[reason] = self.kept.get(reason, 0) + rows

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def write_batch_keys(store: ArchiveStore, path: str, keys: pa.Table, work: Path) -> tuple[str, int]:
    """Publish a batch's keys (create-only); (sha256, rows)."""
    local = work / path.replace("/", "__")
    pq.write_table(keys, local, compression="zstd", encryption_properties=store.keys.encryption_properties())
    sha = file_sha256(local)
    store.put_file(path, local, sha)
    local.unlink()
    return sha, keys.num_rows


def write_run_record(store: ArchiveStore, record: dict[str, Any]) -> str:
    path = layout.purge_record_path(record["run_id"])
    store.put_new(path, canonical_json({"schema_version": SCHEMA_VERSION, **record}))
    return path


def audit_period(store: ArchiveStore, run_id: str, outcome: PeriodOutcome, as_of: str, initiator: str) -> None:
    audit.append(store, {"action": "purge", "run_id": run_id, "table": outcome.table, "period": outcome.period,
                         "as_of": as_of, "initiator": initiator, "archived_manifest": outcome.manifest,
                         "archived_manifest_sha256": outcome.manifest_sha256, "deleted": outcome.deleted,
                         "kept": outcome.kept, "key_range": outcome.key_range, "keys_sha256": outcome.keys_sha256,
                         "batches": [b.path for b in outcome.batches if b.committed]})


def settle(store: ArchiveStore, session: PurgeSession, tables: list[Table], run_id: str) -> list[str]:
    """Record what became of the batches that killed purge runs left unsettled (of these tables, of
    this source): a batch committed exactly when none of its keys is left in the source. Returns the
    killed runs' ids."""
    found = [(table, batch) for table in tables for batch in purged_batches(store, table.domain, table.name)
             if batch.committed is None and batch.run_id != run_id]
    if not found:
        return []
    records = []
    for table, batch in found:
        raw = store.read_bytes(batch.path)
        rows = key_tuples(store.keys.read_table(raw, shown=batch.path), table.primary_key)
        left = session.present(table, rows) if rows else 0
        records.append({**asdict(BatchRecord(batch.path, sha256_hex(raw), len(rows), committed=left == 0)),
                        "run_id": batch.run_id})
    killed = sorted({b.run_id for _, b in found})
    store.put_new(layout.purge_settlement_path(run_id, session.source.name),
                  canonical_json({"schema_version": SCHEMA_VERSION, "run_id": run_id, "status": "settlement",
                                  "settles": killed, "batches": records}))
    return killed

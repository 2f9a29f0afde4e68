"""Purge records (`_purges/`): every batch a run record names must exist with its sha256, so the
keys a purge took out of a source stay provable. Batches of a killed run that no record names yet
are not damage: the next purge run settles them (archival/purge/records.py)."""

from __future__ import annotations

from archival.archive.manifest import sha256_hex
from archival.archive.purges import purge_records
from archival.archive.store import ArchiveStore
from archival.verify.check import VerifyReport


def check_purges(store: ArchiveStore, report: VerifyReport) -> None:
    for record_path, record in sorted(purge_records(store).items()):
        run_id = record.get("run_id", record_path)
        for batch in record.get("batches", []):
            path = batch["path"]
            if not store.exists(path):
                report.add("missing", path, f"purge batch of run {run_id} is missing: the keys it deleted are not "
                                            "provable")
            elif sha256_hex(store.read_bytes(path)) != batch["sha256"]:
                report.add("sha256", path, f"purge batch of run {run_id} differs from its record")

"""`_runs/<run_id>.json`: what one run did, unit by unit, with totals."""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from archival.archive import layout
from archival.archive.audit_log import recorded
from archival.archive.manifest import canonical_json
from archival.archive.state import latest_manifest, manifest_versions
from archival.archive.store import ArchiveStore, ArchiveUnavailable, LocalStore
from archival.plan.units import ExportUnit
from archival.record import audit

RECORD_BYTES_PER_UNIT = 2048  # a unit's line in the record is well under 1 KiB


def totals(results: list[Any]) -> dict[str, Any]:
    rows = sum(r.rows for r in results)
    seconds = sum(r.seconds for r in results)
    outcomes: dict[str, int] = {}
    for r in results:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
    return {"units": len(results), "rows": rows, "bytes": sum(r.bytes for r in results), "unit_seconds": seconds,
            "rows_per_second": rows / seconds if seconds else 0.0, "outcomes": outcomes}


def write_run_record(store: ArchiveStore, run_id: str, header: dict[str, Any], results: list[Any]) -> str:
    body = {**header, "run_id": run_id, "totals": totals(results), "units": [asdict(r) for r in results]}
    path = layout.run_path(run_id)
    store.put_new(path, canonical_json(body))
    return path


def settle_unrecorded(store: ArchiveStore, run_id: str, failed: list[ExportUnit]) -> list[str]:
    """Append the audit entry of any manifest this run published for a unit that then failed before
    its entry (a disk that filled up between the two writes), and return their paths. A run record
    says that every manifest of its run is in the audit chain, and the next run's repair scan trusts
    that (plan/repairs.py); such a manifest would stay unrecorded for good. `failed`: the failed
    units. Raises when the entry still cannot be written: the run then has no record,
    and the next run repairs it like a crashed run's."""
    settled = []
    for unit in failed:
        versions = manifest_versions(store, unit.domain, unit.table).get(unit.period)
        if not versions:
            continue
        stored = latest_manifest(store, versions)
        if stored.manifest.run_id != run_id or recorded(store, stored):
            continue
        audit.append_publish(store, run_id, unit.id, stored,
                             recovered="its unit failed after publishing it; appended before the run record")
        settled.append(stored.path)
    return settled


def failed_units(store: ArchiveStore, run_id: str) -> set[str]:
    """The units that failed in a run, from its run record."""
    record = json.loads(store.read_bytes(layout.run_path(run_id)))
    return {u["unit_id"] for u in record["units"] if u["outcome"] == "failed"}


@contextmanager
def record_space(store: ArchiveStore, work: Path, units: int) -> Iterator[None]:
    """Hold the space of the run record on a local archive's file system while units run: a disk that
    fills up during the run still takes the record (and `--retry-failed` can use it). The file lives
    in the run's scratch folder, so a killed run's reservation is swept with it."""
    if not isinstance(store, LocalStore):
        yield
        return
    reserve = work / "run-record.reserve"
    try:
        work.mkdir(parents=True, exist_ok=True)
        with open(reserve, "wb") as handle:
            handle.write(b"\0" * (8192 + RECORD_BYTES_PER_UNIT * units))  # written, not sparse: really held
            handle.flush()
    except OSError as exc:
        reserve.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ArchiveUnavailable(f"no space left on the file system of {store.describe()} before the run "
                                     "started: free space and run again; nothing was run") from None
        raise
    try:
        yield
    finally:
        reserve.unlink(missing_ok=True)


def audit_run(store: ArchiveStore, run_id: str, outcome: str, initiator: dict[str, Any], header: dict[str, Any],
              results: list[Any], record_path: str | None = None, problem: str | None = None) -> str:
    """The run's entry in the audit chain: who started it, what it did, when, and how it ended
    (`ok`, `failed`, `interrupted`, `refused`). Error classes only: a run record holds the messages."""
    written = [r for r in results if r.outcome == "written"]
    entry = {"action": "run", "run_id": run_id, "outcome": outcome, "initiator": initiator,
             "as_of": header.get("as_of"), "finished_at": header.get("finished_at"),
             "selectors": header.get("selectors", []), "units": len(results),
             "tables": sorted({r.unit_id.split("/", 1)[0] for r in results}),
             "periods_written": len(written), "rows": sum(r.rows for r in results),
             "files": sum(r.files for r in results), "bytes": sum(r.bytes for r in results),
             "failures": [{"unit": r.unit_id, "error_class": r.error_class} for r in results if r.outcome == "failed"],
             "run_record": record_path}
    if problem:
        entry["problem"] = problem
    return audit.append(store, entry)

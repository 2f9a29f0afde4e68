"""`_runs/<run_id>.json`: what one run did, unit by unit, with totals."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from archival.archive import layout
from archival.archive.manifest import canonical_json
from archival.archive.store import ArchiveStore


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


def failed_units(store: ArchiveStore, run_id: str) -> set[str]:
    """The units that failed in a run, from its run record."""
    record = json.loads(store.read_bytes(layout.run_path(run_id)))
    return {u["unit_id"] for u in record["units"] if u["outcome"] == "failed"}

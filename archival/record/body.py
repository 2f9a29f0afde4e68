"""The manifest body of one unit's outcome (record stage; publish_manifest decides the version)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from archival.archive.fingerprint import ALGORITHM, KEY_ALGORITHM
from archival.plan.compile import SPECIAL_PERIODS
from archival.plan.units import ExportUnit
from archival.spec.model import Source, Table


def window_json(unit: ExportUnit) -> dict[str, Any] | None:
    if unit.window is None:
        return None
    columns = list(unit.window.columns)
    return {"column": columns[0] if len(columns) == 1 else f"coalesce({', '.join(columns)})", "columns": columns,
            "start": unit.window.start.isoformat(), "end": unit.window.end.isoformat()}


def schema_diff(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> dict[str, list[str]]:
    before = {c["name"]: c["type"] for c in old}
    after = {c["name"]: c["type"] for c in new}
    return {"added": [n for n in after if n not in before], "removed": [n for n in before if n not in after],
            "retyped": [f"{n}: {before[n]} -> {after[n]}" for n in after if n in before and before[n] != after[n]]}


def manifest_body(*, unit: ExportUnit, table: Table, source: Source, run_id: str, schema: list[dict[str, Any]],
                  files: list[dict[str, Any]], tombstones: list[dict[str, Any]], fingerprint: str,
                  source_summary: dict[str, Any], schema_change: dict[str, Any] | None,
                  key_checksum: str | None = None, quarantine: list[dict[str, Any]] | None = None,
                  contract: dict[str, Any] | None = None, key_census: dict[str, Any] | None = None,
                  source_schema: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body = {
        "domain": unit.domain, "table": unit.table, "period": unit.period, "mode": unit.mode,
        "window": window_json(unit),
        "source": {"name": source.name, "type": source.type, "relation": table.relation},
        "primary_key": list(table.primary_key),
        "spec_sha256": unit.spec_sha256, "format": table.format, "timezone": table.timezone,
        "schema": schema, "files": files, "row_count": sum(f["rows"] for f in files),
        "tombstones": tombstones, "deleted_rows": sum(t["rows"] for t in tombstones),
        "fingerprint": {"algorithm": ALGORITHM, "value": fingerprint},
        "source_summary": source_summary,
        "quarantine": quarantine or [], "quarantined_rows": sum(q["rows"] for q in quarantine or []),
        "pii": {c.name: c.pii for c in table.columns if c.pii},
        # a special period's window says which rows it holds, not how far the calendar was read
        "watermark": unit.window.end.isoformat() if unit.window and unit.period not in SPECIAL_PERIODS else None,
        "run_id": run_id, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if schema_change:
        body["schema_change"] = schema_change
    if contract is not None:
        body["contract"] = contract
    if key_checksum is not None:
        body["key_checksum"] = {"algorithm": KEY_ALGORITHM, "value": key_checksum}
    if key_census is not None:  # a cache for the next delete check, not content: not in CONTENT_KEYS
        body["key_census"] = key_census
    if source_schema is not None:  # how each column was read (source/types.py); a record, not content
        body["source_schema"] = source_schema
    return body

"""Reconcile's reports for people (a table, then the differing keys) and machines (JSON)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime

from archival.text import aligned
from archival.verify.reconcile import PeriodReport
from archival.verify.relations import RelationReport


def all_ok(reports: list[PeriodReport], relations: list[RelationReport]) -> bool:
    return all(r.status == "ok" for r in [*reports, *relations])


def reports_json(reports: list[PeriodReport], relations: list[RelationReport] | None = None) -> str:
    relations = relations or []
    body = {"reconciled_at": datetime.now(UTC).isoformat(timespec="seconds"), "ok": all_ok(reports, relations),
            "periods": [{**asdict(r), "status": r.status} for r in reports],
            "relations": [{**asdict(r), "status": r.status} for r in relations]}
    return json.dumps(body, indent=2, default=str) + "\n"


def reports_text(reports: list[PeriodReport], relations: list[RelationReport] | None = None) -> str:
    header = ("TABLE", "PERIOD", "SOURCE", "ARCHIVE", "MISSING", "EXTRA", "DIFFERENT", "QUARANTINED", "STATUS")
    rows = [(r.table, r.period, str(r.source_rows), str(r.archive_rows), str(r.missing), str(r.extra),
             str(r.different), str(r.quarantined), r.status) for r in reports]
    lines = aligned([header, *rows])
    for r in reports:
        for name in ("missing", "extra", "different"):
            keys = getattr(r, f"{name}_keys")
            if keys:
                more = f" (+{getattr(r, name) - len(keys)} more)" if getattr(r, name) > len(keys) else ""
                lines.append(f"{r.table} {r.period}: {name} keys {keys}{more}")
    for rel in relations or []:
        sample = f"; orphans the source does not have: {rel.sample}" if rel.sample else ""
        lines.append(f"relation {rel.relation}: source orphans {rel.source_orphans}, archive orphans "
                     f"{rel.archive_orphans}: {rel.status}{sample}")
    for r in reports:
        if r.newer:
            lines.append(f"{r.table} {r.period}: {r.newer} key(s) left out: edited after the archive's watermark, "
                         "the next run archives them")
        if r.purged:
            lines.append(f"{r.table} {r.period}: {r.purged} key(s) purged from the source (archival purge): held by "
                         "the archive only, as recorded in _purges/")
    bad = sum(r.status != "ok" for r in [*reports, *(relations or [])])
    lines.append(f"\nreconcile: {len(reports)} period(s), {len(relations or [])} relation(s), "
                 + (f"{bad} mismatched" if bad else "all match"))
    return "\n".join(lines) + "\n"

"""The end-of-run table for people: one line per unit that read or wrote rows or failed; units with
nothing new and deferred units are summarised per table, then totals."""

from __future__ import annotations

from collections import defaultdict
from itertools import groupby

from archival.record.runs import totals
from archival.text import size_text


def unit_spans(unit_ids: list[str]) -> str:
    """`d.t/2024-01`, `d.t/2024-02`, ... as `d.t 2024-01..2024-02 (2)`, per table."""
    parts = []
    for table, group in groupby(sorted(unit_ids), key=lambda u: u.split("/", 1)[0]):
        periods = [u.split("/", 1)[1] for u in group]
        parts.append(f"{table} {periods[0]}" if len(periods) == 1 else
                     f"{table} {periods[0]}..{periods[-1]} ({len(periods)})")
    return ", ".join(parts)


def _shown(result) -> bool:
    return result.outcome == "failed" or (result.outcome != "deferred" and (result.rows or result.bytes))


def render_summary(results: list, run_id: str, target: str) -> str:
    header = ("UNIT", "OUTCOME", "ROWS", "BYTES", "SECONDS", "ROWS/S")
    rows = [(r.unit_id, r.outcome, f"{r.rows:,}", size_text(r.bytes), f"{r.seconds:.2f}", f"{r.rows_per_second:,.0f}")
            for r in results if _shown(r)]
    total = totals(results)
    outcomes = ", ".join(f"{n} {k}" for k, n in sorted(total["outcomes"].items())) or "nothing due"
    rows.append(("TOTAL", outcomes, f"{total['rows']:,}", size_text(total["bytes"]), f"{total['unit_seconds']:.2f}",
                 f"{total['rows_per_second']:,.0f}"))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"run {run_id} -> target '{target}'", ""]
    for row in [header, *rows]:
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths,
                                                                                                 strict=True))))
    quiet = [r.unit_id for r in results if not _shown(r) and r.outcome != "deferred"]
    if quiet:
        lines += ["", f"{len(quiet)} unit(s) with no new rows: {unit_spans(quiet)}"]
    errors = [f"{r.unit_id}: [{r.error_class}] {' '.join((r.error or '').split())}" for r in results
              if r.outcome == "failed"]
    if errors:
        lines += ["", "Failed units:", *errors]
    by_reason: dict[str, list[str]] = defaultdict(list)
    for r in results:
        if r.outcome == "deferred":
            by_reason[r.error or "deferred"].append(r.unit_id)
    if by_reason:
        lines += ["", "Deferred to the next run:"]
        lines += [f"{len(ids)} unit(s), {reason}: {unit_spans(ids)}" for reason, ids in by_reason.items()]
    return "\n".join(lines) + "\n"

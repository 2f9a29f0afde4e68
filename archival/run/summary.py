"""The end-of-run table for people: one line per unit that did something, then totals."""

from __future__ import annotations

from archival.record.runs import totals


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def render_summary(results: list, run_id: str, target: str) -> str:
    header = ("UNIT", "OUTCOME", "ROWS", "BYTES", "SECONDS", "ROWS/S")
    rows = [(r.unit_id, r.outcome, f"{r.rows:,}", _size(r.bytes), f"{r.seconds:.2f}", f"{r.rows_per_second:,.0f}")
            for r in results]
    total = totals(results)
    outcomes = ", ".join(f"{n} {k}" for k, n in sorted(total["outcomes"].items())) or "nothing due"
    rows.append(("TOTAL", outcomes, f"{total['rows']:,}", _size(total["bytes"]), f"{total['unit_seconds']:.2f}",
                 f"{total['rows_per_second']:,.0f}"))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"run {run_id} -> target '{target}'", ""]
    for row in [header, *rows]:
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths,
                                                                                                 strict=True))))
    errors = [f"{r.unit_id}: [{r.error_class}] {r.error}" for r in results if r.outcome == "failed"]
    if errors:
        lines += ["", "Failed units:", *errors]
    deferred = [f"{r.unit_id}: {r.error}" for r in results if r.outcome == "deferred"]
    if deferred:
        lines += ["", "Deferred to the next run:", *deferred]
    return "\n".join(lines) + "\n"

"""Render a Plan for people (terminal text, Markdown for pull requests) and machines (JSON). The
explainer only reads the Plan; the executor runs the very same object."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from archival.plan.stages import render_stages, stage_name
from archival.plan.units import STATUSES, ExportUnit, Plan

PLAN_JSON_VERSION = 1


@dataclass(frozen=True)
class TableSummary:
    table: str
    mode: str
    spans: str  # "2024-11..2026-10 new" runs of consecutive periods with one status
    counts: Counter


def _spans(units: list[ExportUnit]) -> str:
    parts = []
    for status, run in groupby(units, key=lambda u: u.status):
        labels = [u.period for u in run]
        span = labels[0] if len(labels) == 1 else f"{labels[0]}..{labels[-1]} ({len(labels)})"
        parts.append(f"{span} {status.replace('_', ' ')}")
    return "; ".join(parts)


def summarize(plan: Plan) -> list[TableSummary]:
    rows = []
    for table, group in groupby(plan.units, key=lambda u: u.qualified_table):
        units = list(group)
        rows.append(TableSummary(table, units[0].mode, _spans(units), Counter(u.status for u in units)))
    return rows


def _shown(plan: Plan) -> tuple[str, ...]:
    """The status columns: `unknown` only when a source could not be reached."""
    return tuple(s for s in STATUSES if s != "unknown" or any(u.status == "unknown" for u in plan.units))


def _counts(counter: Counter, shown: tuple[str, ...]) -> list[str]:
    return [str(counter.get(s, 0) or "") for s in shown]


def _header(plan: Plan) -> str:
    due = len(plan.due)
    refresh = f" (a refresh, only the refreshed periods: {plan.refresh})" if plan.refresh else ""
    return (f"Plan for {plan.project} -> target '{plan.target}' as of {plan.as_of.isoformat(timespec='seconds')}: "
            f"{due} of {len(plan.units)} unit(s) to run{refresh}")


def render_markdown(plan: Plan) -> str:
    lines = [f"**{_header(plan)}**", ""]
    if plan.selectors:
        lines += [f"Selected: `{' '.join(plan.selectors)}`", ""]
    shown = _shown(plan)
    lines += ["| table | mode | " + " | ".join(s.replace("_", " ") for s in shown) + " | periods |",
              "|---|---|" + "---:|" * len(shown) + "---|"]
    for row in summarize(plan):
        lines.append(f"| `{row.table}` | {row.mode} | " + " | ".join(_counts(row.counts, shown)) + f" | {row.spans} |")
    lines += _notes(plan, markdown=True)
    return "\n".join(lines) + "\n"


def render_text(plan: Plan, verbose: int = 0) -> str:
    """`verbose`: 1 lists every unit with its stage names, 2 also describes each stage."""
    shown = _shown(plan)
    rows = [("TABLE", "MODE", *(s.replace("_", " ").upper() for s in shown), "PERIODS")]
    rows += [(r.table, r.mode, *_counts(r.counts, shown), r.spans) for r in summarize(plan)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = [_header(plan), ""]
    for row in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    if not plan.units:
        lines.append("(no units)")
    if verbose:
        lines += ["", "Units:"]
        for u in plan.units:
            window = f" [{u.window.start.isoformat()}, {u.window.end.isoformat()})" if u.window else ""
            lines.append(f"  {u.id:<40} {u.status:<10} {u.reason}{window}")
            if verbose > 1:
                lines += [f"      {i}. {stage.describe()}" for i, stage in enumerate(u.stages, start=1)]
            else:
                lines.append(f"      {render_stages(u.stages)}")
    lines += _notes(plan, markdown=False)
    return "\n".join(lines) + "\n"


def _notes(plan: Plan, markdown: bool) -> list[str]:
    if not plan.notes:
        return []
    out = [""]
    for note in plan.notes:
        text = f"{note.level}: {note.table}: {note.message}"
        out.append(f"- {text}" if markdown else text)
    return out


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    def unit(u: ExportUnit) -> dict[str, Any]:
        return {"id": u.id, "domain": u.domain, "table": u.table, "period": u.period, "mode": u.mode,
                "source": u.source, "status": u.status, "reason": u.reason, "spec_sha256": u.spec_sha256,
                "archived_version": u.archived_version, "stages": [stage_name(s) for s in u.stages],
                **({"refresh": u.refresh} if u.refresh else {}),
                "window": None if u.window is None else {"columns": list(u.window.columns),
                                                          "start": u.window.start.isoformat(),
                                                          "end": u.window.end.isoformat()}}

    return {"plan_version": PLAN_JSON_VERSION, "project": plan.project, "target": plan.target,
            "as_of": plan.as_of.isoformat(), "selectors": list(plan.selectors), "offline": plan.offline,
            **({"refresh": plan.refresh} if plan.refresh else {}),
            "summary": {s: sum(1 for u in plan.units if u.status == s) for s in STATUSES},
            "units": [unit(u) for u in plan.units],
            "notes": [{"table": n.table, "level": n.level, "message": n.message} for n in plan.notes]}


def render_json(plan: Plan) -> str:
    return json.dumps(plan_to_dict(plan), indent=2, ensure_ascii=False) + "\n"

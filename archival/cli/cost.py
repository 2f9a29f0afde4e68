"""`archival cost`: bytes per table and tier now, growth, compression against the source, and the
1/3/5-year projection (archival/lifecycle/cost.py)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime

from archival.archive.targets import open_store
from archival.cli.common import OK, load
from archival.lifecycle.classes import TIERS
from archival.lifecycle.cost import CostReport, project, source_sizes, table_costs
from archival.lifecycle.survey import survey
from archival.spec.model import Prices
from archival.text import aligned, markdown, size_text


def _money(value: float, prices: Prices) -> str:
    return f"{value:,.2f} {prices.currency}" if value >= 10 else f"{value:.4f} {prices.currency}"


def _rows(report: CostReport, offline: bool) -> list[list[str]]:
    rows = [["TABLE", *[t.upper() for t in TIERS], "EXPIRED", "GROWTH/MONTH", "SOURCE", "RATIO"]]
    for c in report.tables:
        archived = sum(c.bytes_by_tier.values())
        ratio = f"{c.source_bytes / archived:.1f}x" if c.source_bytes and archived else "-"
        source = f"{c.source_bytes:,}" if c.source_bytes else "not asked" if offline else "unknown"
        rows.append([c.table, *[f"{c.bytes_by_tier.get(t, 0):,}" for t in TIERS], f"{c.expired_bytes:,}",
                     f"{c.growth_per_month:,}", source, ratio])
    return rows


def _horizons(report: CostReport) -> list[list[str]]:
    p = report.prices
    rows = [["YEARS", "HOT / COOL / COLD", "STORAGE", "TRANSITIONS", "PER MONTH AT END", "FULL RETRIEVAL"]]
    for h in report.horizons:
        gb = " / ".join(size_text(h.bytes_by_tier.get(t, 0)) for t in TIERS)
        rows.append([str(h.years), gb, _money(h.storage, p), _money(h.transitions, p), _money(h.monthly_at_end, p),
                     _money(h.retrieval_at_end, p)])
    return rows


def _table(rows: list[list[str]], as_markdown: bool) -> list[str]:
    return markdown(rows) if as_markdown else aligned(rows)


def cmd_cost(args: argparse.Namespace) -> int:
    project_, tables = load(args)
    store = open_store(project_, args.target)
    as_of = args.as_of or datetime.now(UTC)
    states = survey(project_, store, tables, as_of, probe=False)
    prices = project_.costs or Prices()
    report = CostReport(prices, as_of, table_costs(tables, states, as_of))
    problems: list[str] = []
    if not args.offline:
        sizes, problems = source_sizes(project_, tables)
        for cost in report.tables:
            cost.source_bytes = sizes.get(cost.table)
    report.horizons = project(tables, states, report.tables, prices, as_of, tuple(sorted(set(args.years or [1, 3, 5]))))
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps({"as_of": as_of.isoformat(), "prices": asdict(prices),
                          "tables": [asdict(t) for t in report.tables],
                          "horizons": [asdict(h) for h in report.horizons]}, indent=2))
        return OK
    as_md = args.format == "markdown"
    lines = [f"{'## ' if as_md else ''}Archive cost as of {as_of:%Y-%m-%d} (bytes)", ""]
    lines += _table(_rows(report, args.offline), as_md) + [""]
    lines += _table(_horizons(report), as_md) + [""]
    lines.append(f"Prices: {prices.taken}. Assumptions: growth per month from the periods that ended in the last 12 "
                 "months (full tables: none); every period in the tier its age makes due; expired periods free; "
                 "full retrieval = reading the whole archive once (docs/lifecycle.md).")
    print("\n".join(lines))
    return OK

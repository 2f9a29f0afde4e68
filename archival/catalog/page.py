"""The catalog as one self-contained HTML page: inline CSS, a few lines of inline JavaScript for the
search, charts as inline SVG. Nothing is fetched from the network, so it opens from a file, prints,
and can be attached to a ticket. Every value is escaped."""

from __future__ import annotations

from html import escape

from archival.catalog.facts import CatalogFacts, PeriodFacts, RunFacts, TableFacts
from archival.spec.model import Domain
from archival.text import size_text

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:16px 24px}header h1{margin:0 0 4px;font-size:22px}
header code{background:#2e3648;color:#fff}
header input{margin-top:8px;width:min(520px,90%);padding:6px 10px;font-size:14px;border-radius:4px;border:0}
main{padding:16px 24px;max-width:1200px}section.domain{margin-bottom:28px}
.table-card{background:#fff;border:1px solid #d9dde5;border-radius:6px;padding:12px 16px;margin:12px 0}
.table-card h3{margin:0 0 6px}.muted{color:#5b6475}.facts span{display:inline-block;margin-right:14px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border-bottom:1px solid #e3e6ec;
padding:3px 8px;text-align:left;vertical-align:top}th{background:#eef0f4}td.n{text-align:right}
.pii{color:#9b2c2c;font-weight:600}.failed{color:#b42318;font-weight:600}.ok{color:#157f3b}
svg.chart{background:#fafbfc;border:1px solid #e3e6ec}details{margin:6px 0}code{background:#eef0f4;padding:0 3px}
@media print{header input,.no-print{display:none}.table-card{break-inside:avoid}details{display:block}}
"""

SEARCH = """
document.getElementById('search').addEventListener('input', function (e) {
  var q = e.target.value.toLowerCase();
  document.querySelectorAll('.table-card').forEach(function (card) {
    card.style.display = card.dataset.search.indexOf(q) >= 0 ? '' : 'none';
  });
});
"""


def _cells(values, numeric=()) -> str:
    return "".join(f'<td class="n">{escape(str(v))}</td>' if i in numeric else f"<td>{escape(str(v))}</td>"
                   for i, v in enumerate(values))


def _chart(periods: list[PeriodFacts], key: str, title: str) -> str:
    """Bars per period (data time), heights by `key` (rows or bytes)."""
    values = [getattr(p, key) for p in periods]
    if not values:
        return ""
    width, height, top = max(240, 14 * len(values)), 120, max(values) or 1
    step = width / len(values)
    bars = "".join(
        f'<rect class="bar" x="{i * step + 1:.1f}" y="{height - 18 - (v / top) * (height - 30):.1f}" '
        f'width="{max(step - 2, 1):.1f}" height="{(v / top) * (height - 30):.1f}" fill="#3b6fd8" '
        f'data-period="{escape(p.label)}" data-value="{v}"><title>{escape(p.label)}: {v:,}</title></rect>'
        for i, (p, v) in enumerate(zip(periods, values, strict=True)))
    return (f'<svg class="chart" data-series="{key}" width="{width}" height="{height}" role="img" '
            f'aria-label="{escape(title)}"><text x="4" y="12" font-size="11">{escape(title)} (max {top:,})</text>'
            f'{bars}<text x="2" y="{height - 4}" font-size="10">{escape(periods[0].label)}</text>'
            f'<text x="{width - 2}" y="{height - 4}" font-size="10" text-anchor="end">{escape(periods[-1].label)}'
            "</text></svg>")


def _runbook(facts: TableFacts, domain: Domain) -> str:
    name = facts.table.qualified_name
    steps = [
        ("Who owns it", f"{domain.owner} (domain {domain.name}, {domain.file})"),
        ("Check it against the source", f"archival reconcile --select table:{name}"),
        ("Re-read a period", f'archival run --refresh -s table:{name} --period PERIOD --reason "why"'),
        ("Repair what reconcile found", f"archival reconcile --repair --select table:{name}"),
        ("Read it", f'archival query --sql "SELECT count(*) FROM {name}"'),
        ("Restore it", f"archival restore -s table:{name} --to ./restored.db"),
        ("Check its files", f"archival scrub --select table:{name} --deep"),
    ]
    items = "".join(f"<li>{escape(what)}: <code>{escape(how)}</code></li>" for what, how in steps)
    return f'<details class="runbook"><summary>Runbook</summary><ul>{items}</ul></details>'


def _table(facts: TableFacts, domain: Domain, archive: str) -> str:
    t = facts.table
    search = " ".join([t.qualified_name, t.relation, t.description or "", domain.owner, *t.tags,
                       *(c.name for c in facts.columns)]).lower()
    retention = ", ".join(f"{k} {v}" for k, v in (("hot", t.retention.hot), ("cool", t.retention.cool),
                                                  ("cold", t.retention.cold)) if v) or "kept"
    shown = [("mode", t.mode), ("cursor", ", ".join(t.cursor) or "-"), ("period", t.period or "-"),
             ("key", ", ".join(t.primary_key)), ("tier", t.tier),
             ("retention", f"{retention}, then {t.retention.then}"),
             ("purge", f"after {t.purge.after}" if t.purge else "no"), ("encrypted", facts.encryption)]
    facts_html = "".join(f"<span><b>{escape(k)}</b> {escape(str(v))}</span>" for k, v in shown)
    columns = "".join(
        f"<tr><td>{escape(c.name)}</td><td>{escape(c.type)}</td><td>{'yes' if c.nullable else 'no'}</td>"
        f'<td class="pii">{escape(c.pii or "")}</td><td>{escape(c.rules)}</td>'
        f"<td>{escape(c.description or '')}</td></tr>" for c in facts.columns)
    periods = "".join(
        '<tr class="period">' + _cells([p.label, p.version, f"{p.rows:,}", f"{p.live_rows:,}", size_text(p.bytes),
                                        p.tier, p.data_class, p.status, p.written_at, p.run_id], numeric=(1, 2, 3))
        + "</tr>" for p in facts.periods)
    total_rows, total_bytes = sum(p.live_rows for p in facts.periods), sum(p.bytes for p in facts.periods)
    return f"""
<article class="table-card" id="{escape(t.qualified_name)}" data-search="{escape(search)}">
<h3>{escape(t.qualified_name)}</h3>
<p class="muted">{escape(t.description or '')}</p>
<p class="lineage">Lineage: source <b>{escape(facts.source)}</b> relation <code>{escape(t.relation)}</code> &rarr;
archive <code>{escape(archive)}/{escape(t.domain)}/{escape(t.name)}/</code></p>
<p class="facts">{facts_html}</p>
<p>{len(facts.periods)} period(s), {total_rows:,} live rows, {size_text(total_bytes)}</p>
{_chart(facts.periods, "live_rows", "rows per period")} {_chart(facts.periods, "bytes", "bytes per period")}
<details open><summary>Columns ({len(facts.columns)})</summary><table><tr><th>column</th><th>type</th>
<th>nullable</th><th>PII</th><th>contract</th><th>description</th></tr>{columns}</table></details>
<details><summary>Periods</summary><table><tr><th>period</th><th>version</th><th>rows</th><th>live rows</th>
<th>bytes</th><th>tier</th><th>class</th><th>status</th><th>written</th><th>run</th></tr>{periods}</table></details>
{_runbook(facts, domain)}
</article>"""


def _runs(runs: list[RunFacts]) -> str:
    rows = []
    for run in runs:
        status = '<span class="failed">failed</span>' if run.failed else '<span class="ok">ok</span>'
        outcomes = ", ".join(f"{n} {k}" for k, n in sorted(run.outcomes.items()))
        failures = "".join(f"<li>{escape(u)}: <b>{escape(c)}</b> {escape(e)}</li>" for u, c, e in run.failures)
        state = "failed" if run.failed else "ok"
        rows.append(f'<tr class="run run-{state}" data-status="{state}">'
                    f"<td>{escape(run.run_id)}</td><td>{escape(run.as_of)}</td><td>{status}</td>"
                    f"<td>{escape(outcomes)}{f'<ul>{failures}</ul>' if failures else ''}</td></tr>")
    return ("<table><tr><th>run</th><th>as of</th><th>status</th><th>units</th></tr>" + "".join(rows) + "</table>"
            if rows else "<p>No runs recorded yet.</p>")


def render(facts: CatalogFacts) -> str:
    project = facts.project
    nav = "".join(f'<li><a href="#domain-{escape(d.name)}">{escape(d.name)}</a> ({len(ts)} tables)</li>'
                  for d, ts in facts.domains)
    sections = []
    for domain, tables in facts.domains:
        schedule = f"{domain.schedule.cron} ({domain.schedule.timezone})" if domain.schedule else "none"
        sections.append(
            f'<section class="domain" id="domain-{escape(domain.name)}"><h2>Domain {escape(domain.name)}</h2>'
            f'<p><b>Owner</b> <span class="owner">{escape(domain.owner)}</span> &middot; <b>source</b> '
            f"{escape(domain.source)} &middot; <b>schedule</b> {escape(schedule)}</p>"
            f'<p class="muted">{escape(domain.description or "")}</p>'
            + "".join(_table(t, domain, facts.archive) for t in tables) + "</section>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(project.name)}: archive catalog</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body><header><h1>{escape(project.name)}: archive catalog</h1>
<div>archive {escape(facts.archive)} &middot; generated {escape(facts.generated_at)} by <code>archival docs</code></div>
<input id="search" type="search" placeholder="Search tables, columns, owners" aria-label="search"></header>
<main><nav class="no-print"><ul>{nav}</ul></nav>{''.join(sections)}
<section id="runs"><h2>Recent runs</h2>{_runs(facts.runs)}</section></main>
<script>{SEARCH}</script></body></html>
"""

"""What to archive and how, proposed from an app table's metadata and a look at its rows:

- mode: `full` for junctions, tables without the platform's timestamps and small tables (below
  FULL_BELOW rows: a snapshot each run is cheap and catches every edit and delete); `window` on the
  creation time for tables whose rows are never edited (no row has an update stamp); `incremental`
  by `[updated, created]` otherwise (NocoDB and Directus leave the update stamp NULL until a row's
  first edit);
- a window's cursor: the creation stamp, unless it only says when rows were imported (all within
  IMPORT_SPAN while a date field of the app spans months): then that field, said in a comment;
- period: `day` above DAY_ABOVE rows a month, else `month`;
- PII: e-mail and phone fields (by the platform's field type, or their names) hashed (masked when
  the project has no hash key), identity numbers dropped; each proposal says why, for review."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

import duckdb

from archival.platform.catalog import rows
from archival.platform.directus import read_directus
from archival.platform.model import AppBase, AppField, AppTable
from archival.platform.nocodb import read_nocodb
from archival.sql import quote_ident, quote_relation

FULL_BELOW = 5_000
DAY_ABOVE = 1_000_000
IMPORT_SPAN = timedelta(days=2)
_DATES = ("timestamp", "date")
_CONTACT = re.compile(r"(^|_)(e_?mail|phone|mobile|tel|telephone|fax)($|_)", re.I)
_IDENTITY = re.compile(r"(^|_)(ssn|iban|passport|tax_?id|national_?id)($|_)", re.I)


@dataclass(frozen=True)
class Proposal:
    table: AppTable
    mode: str
    cursor: tuple[str, ...] = ()
    period: str | None = None
    pii: dict[str, tuple[str, str]] = field(default_factory=dict)  # column -> (rule, why)
    notes: tuple[str, ...] = ()  # comments for the reviewer
    rows: int = 0


def pii_of(f: AppField, can_hash: bool) -> tuple[str, str] | None:
    words = f"{f.column} {f.title}".replace(" ", "_")
    if f.kind in ("Email", "PhoneNumber") or _CONTACT.search(f.column) or _CONTACT.search(f.title.replace(" ", "_")):
        why = f"{f.kind} field" if f.kind in ("Email", "PhoneNumber") else "its name"
        return ("hash" if can_hash else "mask"), why
    if _IDENTITY.search(words):
        return "drop", "its name"
    return None


def _stats(con: duckdb.DuckDBPyConnection, table: AppTable, dates: list[AppField]) -> dict:
    created, updated = table.role("created"), table.role("updated")
    parts = ["count(*) AS n"]
    if updated:
        parts.append(f"count({quote_ident(updated.column, 'postgres')}) AS edited")
    for number, f in enumerate(([created] if created else []) + dates):
        column = quote_ident(f.column, "postgres")
        parts += [f"min({column}) AS lo{number}", f"max({column}) AS hi{number}", f"count({column}) AS n{number}"]
    return rows(con, f"SELECT {', '.join(parts)} FROM {quote_relation(table.relation, 'postgres')}")[0]


def propose(con: duckdb.DuckDBPyConnection, table: AppTable, can_hash: bool) -> Proposal:
    pii = {f.column: found for f in table.fields if f.role == "data" and (found := pii_of(f, can_hash))}
    created, updated = table.role("created"), table.role("updated")
    dates = [f for f in table.fields if f.role == "data" and f.data_type.startswith(_DATES)]
    stats = _stats(con, table, dates)
    n = int(stats["n"])
    if table.junction or created is None or n < FULL_BELOW or not table.primary_key:
        why = ("a many-to-many junction" if table.junction else "no creation stamp" if created is None
               else "no primary key" if not table.primary_key else f"{n:,} rows")
        return Proposal(table, "full", pii=pii, notes=(f"full snapshot each run: {why}",), rows=n)
    span = (stats["hi0"] - stats["lo0"]) if stats["lo0"] is not None else timedelta(0)
    months = max(1.0, span.days / 30.4)
    period = "day" if n / months > DAY_ABOVE else "month"
    if updated is not None and int(stats["edited"]):
        return Proposal(table, "incremental", (updated.column, created.column), period, pii,
                        (f"{int(stats['edited']):,} of {n:,} rows edited: every version, by the first non-NULL of "
                         f"{updated.column}, {created.column}",), n)
    cursor, notes = created.column, [f"no row was ever edited ({n:,} rows): each closed {period} archived once"]
    if span < IMPORT_SPAN:
        for number, f in enumerate(dates, start=1):
            lo, hi, filled = stats[f"lo{number}"], stats[f"hi{number}"], int(stats[f"n{number}"])
            if filled == n and lo is not None and hi - lo > timedelta(days=60):
                notes.append(f"review: {created.column} spans only {span} (an import?); {f.column} ({f.title}) "
                             f"spans {lo:%Y-%m-%d} to {hi:%Y-%m-%d}, so the window follows it")
                cursor = f.column
                break
    return Proposal(table, "window", (cursor,), period, pii, tuple(notes), n)


def propose_base(con: duckdb.DuckDBPyConnection, platform: str, base_title: str | None,
                 can_hash: bool) -> tuple[AppBase, list[Proposal], list[str]]:
    """The app's tables read from its metadata (`con` has the database attached as `src`) and a
    proposal for each; the relations left out for want of a primary key."""
    base = read_nocodb(con, base_title) if platform == "nocodb" else read_directus(con)
    proposals = [propose(con, t, can_hash) for t in base.tables if t.primary_key]
    return base, proposals, [t.relation for t in base.tables if not t.primary_key]

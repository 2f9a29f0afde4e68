"""The plan's count of source rows per archived period (window mode's late-row check) finds each row's
period by one ASOF join, and answers exactly what a filtered aggregate per period answered (the
reference below, the code before: its cost grew with rows x periods). Rows on a period's edges, in
gaps between archived periods, before the first and after the last, NULL cursors, two-column cursors,
naive timestamps in a zone with summer time, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import hypothesis.strategies as st
import psycopg
from hypothesis import HealthCheck, given, settings

from archival.checksums import format_key_checksum, key_checksum_sql
from archival.source import duck
from archival.source.columns import source_columns
from archival.source.cursor import cursor_range_predicate, null_cursor_predicate
from archival.source.cursor_stats import count_ranges
from archival.spec.load import load_project
from archival.sql import qualified, quote_ident
from tests.conftest import write_project

START = datetime(2026, 3, 24, tzinfo=UTC)  # summer time begins in Berlin on the 29th
ZONE = ZoneInfo("Europe/Berlin")


def reference(con, table, naive: bool, ranges):
    """The filtered aggregates per range that count_ranges replaced."""
    aggregates = [f"count(*) FILTER (WHERE {null_cursor_predicate(table.cursor, quote_ident)})"]
    for lo, hi in ranges.values():
        where = cursor_range_predicate(table.cursor, quote_ident, lo, hi, naive, table.timezone, False)
        key = key_checksum_sql(list(table.primary_key), quote_ident, where)
        aggregates += [f"count(*) FILTER (WHERE {where})", key]
    row = con.execute(f"SELECT {', '.join(aggregates)} FROM {qualified('src', table.relation)}").fetchone()
    return int(row[0]), {label: (int(row[1 + 2 * i]), format_key_checksum(row[2 + 2 * i] or 0))
                         for i, label in enumerate(ranges)}


def _days(labels: list[int]) -> dict[str, tuple[datetime, datetime]]:
    """Archived days (offsets from START; gaps where a day is missing), each [start, end) an hour early."""
    edge = lambda d: START + timedelta(days=d, hours=-1)  # noqa: E731
    return {f"d{d}": (edge(d), edge(d + 1)) for d in sorted(set(labels))}


def wall(instant: datetime) -> str:
    return instant.astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S")


def _project(tmp_path, source: str, cursor: str):
    spec = (f"domain: app\nowner: o@example.com\nsource: s\ntables:\n  events: {{relation: events, "
            f"primary_key: [id, kind], mode: window, cursor: {cursor}, period: day}}\n")
    project = load_project(write_project(tmp_path, source, {"app": spec}))
    return project, project.domains[0].tables[0]


def _compare(con, table, kind: str, ranges) -> None:
    columns = source_columns(con, "src", kind, table)
    naive = next(c for c in columns if c.name == table.cursor[0]).is_naive_timestamp
    assert count_ranges(con, table, columns, ranges) == reference(con, table, naive, ranges)


offsets = st.integers(min_value=-2 * 24 * 60, max_value=12 * 24 * 60)  # minutes from START
cells = st.one_of(st.none(), offsets)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(cells, cells), max_size=60), archived=st.lists(st.integers(0, 9), max_size=8),
       edges=st.booleans())
def test_sqlite_counts_match_the_filtered_aggregates(tmp_path_factory, rows, archived, edges):
    folder = tmp_path_factory.mktemp("sqlite")
    with closing(sqlite3.connect(folder / "app.db")) as db:
        db.execute("CREATE TABLE events (id INTEGER, kind TEXT, updated_at TIMESTAMP, created_at TIMESTAMP, "
                   "PRIMARY KEY (id, kind))")
        # naive values are wall time of the source's zone; the edge rows lie exactly on the ranges' edges
        stamp = lambda m: None if m is None else wall(START + timedelta(minutes=m))  # noqa: E731
        values = [(stamp(u), stamp(c)) for u, c in rows]
        values += [(None, wall(START + timedelta(days=d, hours=-1))) for d in range(11)] if edges else []
        db.executemany("INSERT INTO events VALUES (?, ?, ?, ?)",
                       [(i, f"k{i % 3}", u, c) for i, (u, c) in enumerate(values)])
        db.commit()
    for cursor in ("created_at", "[updated_at, created_at]"):
        project, table = _project(folder / cursor[:3], "  s: {type: sqlite, path: ../app.db, timezone: Europe/Berlin}",
                                  cursor)
        con = duck.connect(("sqlite",))
        con.execute(f"ATTACH '{folder / 'app.db'}' AS src (TYPE sqlite, READ_ONLY)")
        _compare(con, table, "sqlite", _days(archived))
        _compare(con, table, "sqlite", {})
        con.close()


def test_postgres_counts_match_the_filtered_aggregates(tmp_path, pg_dsn, monkeypatch):
    with psycopg.connect(pg_dsn, autocommit=True) as pg:
        pg.execute("CREATE TABLE events (id int, kind text, updated_at timestamptz, created_at timestamptz, "
                   "PRIMARY KEY (id, kind))")
        pg.execute("INSERT INTO events SELECT g, 'k' || g %% 3, CASE WHEN g %% 4 = 0 THEN NULL ELSE %s + g * interval "
                   "'37 minutes' END, CASE WHEN g %% 11 = 0 THEN NULL ELSE %s + g * interval '53 minutes' END "
                   "FROM generate_series(-100, 400) g", (START, START))
    monkeypatch.setenv("EVENTS_DSN", pg_dsn)
    for cursor in ("created_at", "[updated_at, created_at]"):
        _, table = _project(tmp_path / cursor[:3], "  s: {type: postgres, dsn: env:EVENTS_DSN}", cursor)
        con = duck.connect(("postgres",))
        con.execute(f"ATTACH '{pg_dsn}' AS src (TYPE postgres, READ_ONLY)")
        _compare(con, table, "postgres", _days([0, 1, 2, 5, 6, 9]))
        con.close()
